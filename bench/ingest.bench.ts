/**
 * Webhook ingest: throughput, acknowledgement latency and resident memory of
 * `POST /webhooks/jira` (the real service, workers off, so only intake is measured) against a
 * bare `node:http` server doing one Redis LPUSH per request, under the same load in the same run.
 *
 * Three kinds of process, so the load generator's work distorts neither target's latency nor
 * its RSS: this orchestrator (starts a throwaway redis-server, forks the rest, prints), one
 * target at a time (`target` role: the service or the baseline), and the load generator (`load`
 * role). Load: open loop at BENCH_RATE deliveries/s (default 1,000) for BENCH_SECONDS (default
 * 30), after a short warm-up; then a short closed loop (32 connections) to show capacity. Every
 * delivery is the real Jira issue_created payload, HMAC-SHA256 signed with the configured secret,
 * with its own X-Atlassian-Webhook-Identifier.
 *
 * Goal 8 asks for throughput at least 0.8 of the baseline's: at the offered rate both keep up, so
 * the figure that tells them apart is capacity (the closed loop); both ratios are printed side by
 * side, with the load average, since other work on the machine moves them. Where a delivery's
 * cost goes is printed too: CPU per acknowledged delivery of the target and of redis-server, and
 * the Redis commands per delivery. BENCH_CPU_PROF=<dir> writes a CPU profile of each target's
 * capacity phase there.
 *
 * Own echoes: after the service's load, the orchestrator sends deliveries the service's own
 * writes cause (its transitions as `jira:issue_updated` and its comments as `comment_created`,
 * by the service's account) and the same comment by a person, and counts what the door answered:
 * echoes are to be dropped at the door (202 `ignored`, nothing queued), the person's queued. The
 * service learns its account from a stub Jira in its process that answers only `/myself`.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Agent, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { benchSeconds, fmt, mb, printTable, summary, verdict, watchdog } from './lib/report.ts';
import { peakRssBytes, rssBytes, stop, waitHttp } from './lib/layout.ts';

const SECRET = 'bench-webhook-secret-0123456789';
/** The account the stub Jira says the service is. */
const SELF_ACCOUNT = '557058:bench-ticket-surface';
const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Messages between the processes

type TargetKind = 'service' | 'baseline';
type ToTarget = { type: 'reset' } | { type: 'memory' } | { type: 'cpu' } | { type: 'profile'; phase: 'start' | 'stop' } | { type: 'stop' };
type FromTarget = { type: 'ready'; url: string } | { type: 'cpu'; micros: number } | { type: 'profiled'; file?: string } | { type: 'memory'; peakRss: number; rss: number; heapUsed: number; idleRss: number; loopDelayMaxMs: number; gcMaxMs: number; gcTotalMs: number } | { type: 'error'; message: string };

/** One load phase: open loop at `rate`/s, or closed loop with `connections` callers. */
interface LoadPlan {
  type: 'run';
  url: string;
  mode: 'open' | 'closed';
  seconds: number;
  rate: number;
  connections: number;
}

/** What the load generator measured in one phase. */
interface LoadResult {
  type: 'result';
  sent: number;
  ok: number;
  refused: number;
  errors: number;
  /** Deliveries the generator skipped because too many were already waiting (open loop only). */
  skipped: number;
  /** Acknowledgement latency (ms) of each 2xx, from the delivery's scheduled send time. */
  latencies: number[];
  /** How late the generator itself sent (ms), p99: large values mean the generator, not the target, lagged. */
  sendLagP99: number;
  elapsedMs: number;
}

// ---------------------------------------------------------------------------------------------
// Target role: the service or the baseline, reporting its own memory

async function startService(redisUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  // The compiled service, as `npm start` and the image run it (the runner builds dist/ first);
  // BENCH_INGEST_SRC=1 measures the TypeScript sources under tsx instead.
  const from = process.env.BENCH_INGEST_SRC ? { dir: '../src', ext: 'ts' } : { dir: '../dist', ext: 'js' };
  const { loadConfig } = (await import(`${from.dir}/config.${from.ext}`)) as typeof import('../src/config.ts');
  const { startRuntime } = (await import(`${from.dir}/runtime.${from.ext}`)) as typeof import('../src/runtime.ts');
  const { createLogger } = (await import(`${from.dir}/engine/logger.${from.ext}`)) as typeof import('../src/engine/logger.ts');
  const dataDir = mkdtempSync(join(tmpdir(), 'ts-bench-ingest-'));
  const config = loadConfig(await serviceSettings(redisUrl, dataDir, 0));
  const runtime = await startRuntime({ config, logger: createLogger('silent'), http: true, workers: false });
  return {
    url: runtime.url!,
    close: async () => {
      await runtime.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The service's settings in both ingest targets: workers off, Jira configured against the stub. */
async function serviceSettings(redisUrl: string, dataDir: string, port: number): Promise<Record<string, string>> {
  return {
    REDIS_URL: redisUrl,
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'silent',
    RUN_WORKERS: 'false',
    // Intake only asks who the service is (to drop its own echoes); any other call fails loudly.
    JIRA_BASE_URL: await stubJira(),
    JIRA_EMAIL: 'bench@example.invalid',
    JIRA_API_TOKEN: 'bench-token',
    JIRA_WEBHOOK_SECRET: SECRET,
    JIRA_CONFIG_FILE: 'examples/jira-config.yaml',
  };
}

/** A Jira that answers only `GET /rest/api/3/myself` (503 to anything else); its URL. */
async function stubJira(): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    if (req.method === 'GET' && req.url?.startsWith('/rest/api/3/myself')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accountId: SELF_ACCOUNT, displayName: 'ticket-surface', active: true }));
    } else res.writeHead(503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  server.unref();
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

async function startBaseline(redisUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      redis.lpush('bench:baseline', Buffer.concat(chunks)).then(
        () => {
          res.writeHead(202, { 'content-type': 'application/json' });
          res.end('{"status":"queued"}');
        },
        () => {
          res.writeHead(503);
          res.end();
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await redis.quit();
    },
  };
}

/**
 * CPU profiling of the target during the capacity phase, opt-in: BENCH_CPU_PROF names a
 * directory; the target writes `<kind>-capacity.cpuprofile` there (open it in any V8 profile
 * viewer). Only the closed loop is profiled, so warm-up and start-up do not blur the picture.
 */
function capacityProfiler(kind: TargetKind): { start(): Promise<void>; stop(): Promise<string | undefined> } {
  const dir = process.env.BENCH_CPU_PROF;
  let session: import('node:inspector/promises').Session | undefined;
  return {
    async start() {
      if (!dir) return;
      const { Session } = await import('node:inspector/promises');
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
    },
    async stop() {
      if (!dir || !session) return undefined;
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      session = undefined;
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${kind}-capacity.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
  };
}

async function targetRole(): Promise<void> {
  const kind = process.env.BENCH_TARGET as TargetKind;
  const redisUrl = process.env.BENCH_REDIS_URL!;
  const send = (m: FromTarget) => process.send!(m);
  let peak = 0;
  // Stalls of the event loop and GC pauses explain tail latency that steady per-request cost cannot.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  let gcMax = 0;
  let gcTotal = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMax = Math.max(gcMax, e.duration);
      gcTotal += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);
  try {
    const t = kind === 'service' ? await startService(redisUrl) : await startBaseline(redisUrl);
    const idleRss = process.memoryUsage.rss();
    const profiler = capacityProfiler(kind);
    process.on('message', (m: ToTarget) => {
      if (m.type === 'profile') {
        void (m.phase === 'start' ? profiler.start().then(() => undefined) : profiler.stop()).then((file) => send({ type: 'profiled', ...(file ? { file } : {}) }));
        return;
      }
      if (m.type === 'reset') {
        peak = process.memoryUsage.rss();
        loopDelay.reset();
        gcMax = 0;
        gcTotal = 0;
      }
      else if (m.type === 'cpu') {
        const u = process.cpuUsage();
        send({ type: 'cpu', micros: u.user + u.system });
      } else if (m.type === 'memory') {
        const mu = process.memoryUsage();
        send({ type: 'memory', peakRss: Math.max(peak, mu.rss), rss: mu.rss, heapUsed: mu.heapUsed, idleRss, loopDelayMaxMs: loopDelay.max / 1e6, gcMaxMs: gcMax, gcTotalMs: gcTotal });
      } else if (m.type === 'stop') {
        clearInterval(sampler);
        void t.close().finally(() => process.exit(0));
      }
    });
    process.on('disconnect', () => process.exit(0));
    send({ type: 'ready', url: t.url });
  } catch (err) {
    send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    process.exit(1);
  }
}

// ---------------------------------------------------------------------------------------------
// Load role

/** The real Jira delivery from the fixtures, compacted, with a placeholder for its timestamp. */
function bodyTemplate(): { head: string; tail: string } {
  const fixture = JSON.parse(readFileSync(new URL('../test/fixtures/jira/webhook-jira-issue_created.cloud-2024.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  const text = JSON.stringify({ ...fixture, timestamp: 0 });
  const at = text.indexOf('"timestamp":0') + '"timestamp":'.length;
  return { head: text.slice(0, at), tail: text.slice(at + 1) };
}

async function runLoad(plan: LoadPlan): Promise<LoadResult> {
  const { head, tail } = bodyTemplate();
  const target = new URL('/webhooks/jira', plan.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const result: LoadResult = { type: 'result', sent: 0, ok: 0, refused: 0, errors: 0, skipped: 0, latencies: [], sendLagP99: 0, elapsedMs: 0 };
  const lags: number[] = [];
  let inFlight = 0;
  const started = performance.now();
  let lastDone = started;

  /** Sends one signed delivery; resolves when answered (never rejects). */
  const deliver = (scheduledAt: number): Promise<void> => {
    const body = head + String(Date.now()) + tail;
    const headers = {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': 'Atlassian Webhook HTTP Client',
      'x-atlassian-webhook-identifier': randomUUID(),
      'x-atlassian-webhook-flow': 'Primary',
      'x-hub-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
    };
    result.sent++;
    inFlight++;
    lags.push(performance.now() - scheduledAt);
    return new Promise<void>((resolve) => {
      const finish = (status: number | undefined) => {
        inFlight--;
        const now = performance.now();
        lastDone = now;
        if (status !== undefined && status >= 200 && status < 300) {
          result.ok++;
          result.latencies.push(now - scheduledAt);
        } else if (status !== undefined) result.refused++;
        else result.errors++;
        resolve();
      };
      const req = request(target, { method: 'POST', agent, headers, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => finish(res.statusCode));
        res.on('error', () => finish(undefined));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => finish(undefined));
      req.end(body);
    });
  };

  if (plan.mode === 'open') {
    const total = Math.round(plan.rate * plan.seconds);
    const interval = 1000 / plan.rate;
    // Bounded: a target that stops answering makes the generator skip, not pile up sockets.
    const maxInFlight = 2000;
    const pending = new Set<Promise<void>>();
    let i = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        while (i < total && started + i * interval <= now) {
          const scheduled = started + i * interval;
          i++;
          if (inFlight >= maxInFlight) {
            result.skipped++;
            continue;
          }
          const p = deliver(scheduled);
          pending.add(p);
          void p.then(() => pending.delete(p));
        }
        if (i < total) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
    // Drain, bounded by the request timeout.
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 12_000))]);
  } else {
    const deadline = started + plan.seconds * 1000;
    const caller = async () => {
      while (performance.now() < deadline) await deliver(performance.now());
    };
    await Promise.all(Array.from({ length: plan.connections }, caller));
  }
  agent.destroy();
  result.elapsedMs = lastDone - started;
  result.sendLagP99 = summary(lags).p99;
  return result;
}

function loadRole(): void {
  process.on('message', (m: LoadPlan | { type: 'stop' }) => {
    if (m.type === 'stop') process.exit(0);
    else void runLoad(m).then((r) => process.send!(r));
  });
  // The orchestrator gone (crashed, killed by its bound): nothing left to serve.
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready' });
}

// ---------------------------------------------------------------------------------------------
// Own echoes

/** What the door answered, by the `status` of its 202 body (or the HTTP status otherwise). */
type Answers = Record<string, number>;

/** Sends `count` deliveries of `make(i)`, 8 at a time, signed; counts the answers. */
async function sendAll(url: string, count: number, make: (i: number) => unknown): Promise<Answers> {
  const out: Answers = {};
  let next = 0;
  const one = async () => {
    while (next < count) {
      const body = JSON.stringify(make(next++));
      const r = await fetch(new URL('/webhooks/jira', url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-atlassian-webhook-identifier': randomUUID(), 'x-hub-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}` },
        body,
      });
      const status = r.status === 202 ? String(((await r.json()) as { status?: string }).status) : `HTTP ${r.status}`;
      out[status] = (out[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
  return out;
}

/** The service's own transition and comment echoes, and a person's comment, as Jira delivers them. */
async function echoPhase(url: string, each: number): Promise<{ own: Answers; person: Answers }> {
  const fixture = JSON.parse(readFileSync(new URL('../test/fixtures/jira/webhook-jira-issue_created.cloud-2024.json', import.meta.url), 'utf8')) as { user: Record<string, unknown>; issue: Record<string, unknown> };
  const self = { ...fixture.user, accountId: SELF_ACCOUNT, displayName: 'ticket-surface' };
  const transition = () => ({ ...fixture, timestamp: Date.now(), webhookEvent: 'jira:issue_updated', issue_event_type_name: 'issue_generic', user: self });
  const comment = (author: Record<string, unknown>) => (i: number) => ({
    timestamp: Date.now(),
    webhookEvent: 'comment_created',
    comment: { id: String(50_000 + i), author, updateAuthor: author, body: { type: 'doc', version: 1, content: [] }, created: new Date().toISOString(), updated: new Date().toISOString() },
    issue: fixture.issue,
  });
  const ownTransitions = await sendAll(url, each, transition);
  const ownComments = await sendAll(url, each, comment(self));
  const own: Answers = { ...ownTransitions };
  for (const [k, v] of Object.entries(ownComments)) own[k] = (own[k] ?? 0) + v;
  return { own, person: await sendAll(url, each, comment(fixture.user)) };
}

// ---------------------------------------------------------------------------------------------
// Orchestrator

/** Sends `msg` to `child` and resolves with its next message of type `type`. */
function ask<T>(child: ChildProcess, msg: unknown, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no "${type}" message within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: { type: string; message?: string }) => {
      if (m.type === 'error') {
        clearTimeout(timer);
        child.off('message', onMessage);
        reject(new Error(m.message));
      } else if (m.type === type) {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m as unknown as T);
      }
    };
    child.on('message', onMessage);
    if (msg !== undefined) child.send(msg as never);
  });
}

function forkRole(role: string, env: Record<string, string> = {}): ChildProcess {
  return fork(SELF, [role], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

interface TargetFigures {
  kind: TargetKind;
  open: LoadResult;
  closed: LoadResult;
  memory: { peakRss: number; rss: number; heapUsed: number; idleRss: number; loopDelayMaxMs: number; gcMaxMs: number; gcTotalMs: number };
  /** CPU time (ms) the target process and redis-server spent during the capacity phase. */
  cpu: { targetMs: number; redisMs: number };
  /** Redis commands run during the capacity phase: calls and microseconds, by command. */
  commands: Record<string, { calls: number; usec: number }>;
}

/** `INFO commandstats` as calls and microseconds by command. */
function commandStats(info: string): Record<string, { calls: number; usec: number }> {
  const out: Record<string, { calls: number; usec: number }> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out[m[1]!] = { calls: Number(m[2]), usec: Number(m[3]) };
  return out;
}

/** The Redis commands of one target's capacity phase, per acknowledged delivery: `name calls (µs)`, costliest first. */
function commandsPerAck(f: TargetFigures): string {
  const acks = Math.max(1, f.closed.ok);
  return Object.entries(f.commands)
    .filter(([name]) => !['info', 'config'].includes(name))
    .sort((a, b) => b[1].usec - a[1].usec)
    .slice(0, 6)
    .map(([name, c]) => `${name} ${fmt(c.calls / acks, 2)} (${fmt(c.usec / acks, 0)} µs)`)
    .join(', ');
}

/** CPU time redis-server has used so far (user + system), in microseconds. */
async function redisCpuMicros(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const seconds = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

/** Own-echo deliveries of each kind sent after the load. */
const ECHOES = 100;

async function orchestrate(): Promise<void> {
  const seconds = benchSeconds(30);
  const rate = Number(process.env.BENCH_RATE ?? 1000);
  const warmSeconds = Math.min(3, Math.max(1, seconds / 10));
  const capacitySeconds = Math.min(10, seconds);
  const loadStart = loadavg()[0]!;
  const children = new Set<ChildProcess>();
  // Two targets, each: warm-up, measured load, capacity, start-up and drain margins; then the deployed service.
  watchdog(3 * (warmSeconds + seconds + capacitySeconds + 60) * 1000, 'ingest bench', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  const { startRedisServer } = await import('../src/engine/redis-server.ts');
  const redisServer = await startRedisServer();
  const admin = new Redis(redisServer.url);
  const load = forkRole('load');
  children.add(load);
  await ask(load, undefined, 'ready', 30_000);
  console.log(`ingest: ${rate} deliveries/s open loop for ${seconds} s (after ${warmSeconds} s warm-up), then ${capacitySeconds} s closed loop with 32 connections; ${availableParallelism()} cores`);

  const figures: TargetFigures[] = [];
  let echoes: { own: Answers; person: Answers } | undefined;
  let deployed: Awaited<ReturnType<typeof deployedPhase>> | undefined;
  try {
    for (const kind of ['baseline', 'service'] as const) {
      await admin.flushall();
      const target = forkRole('target', { BENCH_TARGET: kind, BENCH_REDIS_URL: redisServer.url });
      children.add(target);
      const { url } = await ask<{ url: string }>(target, undefined, 'ready', 60_000);
      const phase = (mode: 'open' | 'closed', s: number) =>
        ask<LoadResult>(load, { type: 'run', url, mode, seconds: s, rate, connections: 32 } satisfies LoadPlan, 'result', (s + 30) * 1000);
      await phase('open', warmSeconds);
      target.send({ type: 'reset' } satisfies ToTarget);
      const open = await phase('open', seconds);
      const memory = await ask<TargetFigures['memory']>(target, { type: 'memory' } satisfies ToTarget, 'memory', 10_000);
      await ask(target, { type: 'profile', phase: 'start' } satisfies ToTarget, 'profiled', 10_000);
      await admin.config('RESETSTAT');
      const cpuBefore = { target: (await ask<{ micros: number }>(target, { type: 'cpu' } satisfies ToTarget, 'cpu', 10_000)).micros, redis: await redisCpuMicros(admin) };
      const closed = await phase('closed', capacitySeconds);
      const cpu = { targetMs: ((await ask<{ micros: number }>(target, { type: 'cpu' } satisfies ToTarget, 'cpu', 10_000)).micros - cpuBefore.target) / 1000, redisMs: ((await redisCpuMicros(admin)) - cpuBefore.redis) / 1000 };
      const commands = commandStats(await admin.info('commandstats'));
      const profiled = await ask<{ file?: string }>(target, { type: 'profile', phase: 'stop' } satisfies ToTarget, 'profiled', 30_000);
      if (profiled.file) console.log(`${kind}: capacity-phase CPU profile in ${profiled.file}`);
      figures.push({ kind, open, closed, memory, cpu, commands });
      if (kind === 'service') echoes = await echoPhase(url, ECHOES);
      target.send({ type: 'stop' } satisfies ToTarget);
      await new Promise((r) => (target.exitCode !== null ? r(undefined) : target.once('exit', r)));
      children.delete(target);
    }
    await admin.flushall();
    deployed = await deployedPhase(redisServer.url, load, [warmSeconds, seconds], rate, children);
  } finally {
    load.send({ type: 'stop' });
    await admin.quit();
    await redisServer.stop();
  }

  const [base, svc] = figures as [TargetFigures, TargetFigures];
  const tput = (r: LoadResult) => (r.ok / r.elapsedMs) * 1000;
  const rows: string[][] = [['', 'baseline (node:http + LPUSH)', 'service (POST /webhooks/jira)', 'goal', '']];
  const lat = (f: TargetFigures) => summary(f.open.latencies);
  const ratio = tput(svc.open) / tput(base.open);
  const capRatio = tput(svc.closed) / tput(base.closed);
  rows.push(['throughput at offered load (acks/s)', fmt(tput(base.open), 0), fmt(tput(svc.open), 0), '>= 80 % of baseline', `${fmt(ratio * 100, 0)} % ${verdict(ratio >= 0.8)}`]);
  rows.push(['ack latency p50 (ms)', fmt(lat(base).p50, 2), fmt(lat(svc).p50, 2), '', '']);
  rows.push(['ack latency p99 (ms)', fmt(lat(base).p99, 2), fmt(lat(svc).p99, 2), '<= 10 ms', verdict(lat(svc).p99 <= 10)]);
  rows.push(['ack latency max (ms)', fmt(lat(base).max, 1), fmt(lat(svc).max, 1), '', '']);
  rows.push(['RSS peak under load', mb(base.memory.peakRss), mb(svc.memory.peakRss), '<= 200 MB', verdict(svc.memory.peakRss <= 200 * 1000 * 1000)]);
  rows.push(['RSS idle, before any load', mb(base.memory.idleRss), mb(svc.memory.idleRss), '', '']);
  rows.push(['JS heap used after load', mb(base.memory.heapUsed), mb(svc.memory.heapUsed), '', '']);
  rows.push(['event-loop stall max under load (ms)', fmt(base.memory.loopDelayMaxMs, 1), fmt(svc.memory.loopDelayMaxMs, 1), '', '']);
  rows.push(['GC pause max / total under load (ms)', `${fmt(base.memory.gcMaxMs, 1)} / ${fmt(base.memory.gcTotalMs, 0)}`, `${fmt(svc.memory.gcMaxMs, 1)} / ${fmt(svc.memory.gcTotalMs, 0)}`, '', '']);
  rows.push(['sent / 2xx / non-2xx / errors / skipped', `${base.open.sent}/${base.open.ok}/${base.open.refused}/${base.open.errors}/${base.open.skipped}`, `${svc.open.sent}/${svc.open.ok}/${svc.open.refused}/${svc.open.errors}/${svc.open.skipped}`, '', '']);
  rows.push(['generator send lag p99 (ms)', fmt(base.open.sendLagP99, 2), fmt(svc.open.sendLagP99, 2), '', '']);
  rows.push(['capacity, 32 connections (acks/s)', fmt(tput(base.closed), 0), fmt(tput(svc.closed), 0), '>= 80 % of baseline', `${fmt(capRatio * 100, 0)} % ${verdict(capRatio >= 0.8)}`]);
  // Where a delivery's cost goes: the target's own CPU, and the Redis work its enqueue asks for.
  const perK = (f: TargetFigures, ms: number) => fmt((ms / Math.max(1, f.closed.ok)) * 1000, 0);
  rows.push(['CPU per 1,000 acks at capacity: target / redis-server (ms)', `${perK(base, base.cpu.targetMs)} / ${perK(base, base.cpu.redisMs)}`, `${perK(svc, svc.cpu.targetMs)} / ${perK(svc, svc.cpu.redisMs)}`, '', '']);
  rows.push(['capacity latency p99 (ms)', fmt(summary(base.closed.latencies).p99, 1), fmt(summary(svc.closed.latencies).p99, 1), '', '']);
  console.log('');
  printTable(rows);
  // The open loop only shows the service keeps up with the offered rate; capacity is what it can take.
  console.log(`\nthroughput, service / baseline: open loop at ${rate}/s ${fmt(ratio * 100, 0)} %, capacity (32 connections) ${fmt(capRatio * 100, 0)} %; load average ${fmt(loadStart, 2)} at start, ${fmt(loadavg()[0]!, 2)} at end on ${availableParallelism()} cores`);
  console.log(`redis commands per ack at capacity (calls, redis-server µs): baseline ${commandsPerAck(base)}; service ${commandsPerAck(svc)}`);
  if (deployed) {
    // The service column above runs in a process that also carries tsx (it runs this file); this is the process `npm start` runs.
    const d = deployed.result;
    console.log(`service as deployed (node dist/main.js, workers off, no tsx): RSS idle ${mb(deployed.idle)}, peak under ${rate}/s (warm-up, then ${seconds} s) ${mb(deployed.peak)} (goal <= 200 MB: ${verdict(deployed.peak <= 200 * 1000 * 1000)}); ${d.ok}/${d.sent} answered 2xx, ack p99 ${fmt(summary(d.latencies).p99, 2)} ms`);
  }
  if (echoes) {
    const say = (a: Answers) => Object.entries(a).map(([k, v]) => `${k} ${v}`).join(', ');
    const dropped = echoes.own.ignored ?? 0;
    console.log(`\nown echoes at the door (${2 * ECHOES} deliveries the service's own transitions and comments cause, then ${ECHOES} comments by a person):`);
    printTable([
      ['deliveries', 'answered', 'goal'],
      [`own echoes (${ECHOES} jira:issue_updated + ${ECHOES} comment_created by the service)`, say(echoes.own), `all dropped at the door: ${verdict(dropped === 2 * ECHOES)} (${dropped} dropped, ${2 * ECHOES - dropped} queued or other)`],
      [`a person's comment_created`, say(echoes.person), `queued: ${verdict((echoes.person.queued ?? 0) === ECHOES)}`],
    ]);
  }
}

/**
 * The service as deployed: `node dist/main.js` with workers off, its own process with no tsx in
 * it, under the same open-loop load; its RSS read from /proc (idle, and the peak, VmHWM).
 */
async function deployedPhase(redisUrl: string, load: ChildProcess, [warmSeconds, seconds]: [number, number], rate: number, children: Set<ChildProcess>): Promise<{ idle: number; peak: number; result: LoadResult }> {
  const { freePort } = await import('../src/engine/redis-server.ts');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'ts-bench-ingest-deployed-'));
  const env = { ...process.env, ...(await serviceSettings(redisUrl, dataDir, port)), SECRETS_KEY: randomBytes(32).toString('base64') };
  const service = spawn(process.execPath, ['dist/main.js'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(service);
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitHttp(`${url}/healthz`, 60_000);
    await new Promise((r) => setTimeout(r, 1000));
    const idle = rssBytes(service.pid);
    const run = (s: number) => ask<LoadResult>(load, { type: 'run', url, mode: 'open', seconds: s, rate, connections: 32 } satisfies LoadPlan, 'result', (s + 30) * 1000);
    await run(warmSeconds);
    const result = await run(seconds);
    return { idle, peak: peakRssBytes(service.pid), result };
  } finally {
    await stop(service);
    children.delete(service);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const role = process.argv[2];
if (role === 'target') await targetRole();
else if (role === 'load') loadRole();
else {
  await orchestrate();
  process.exit(0);
}
