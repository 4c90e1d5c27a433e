/**
 * Start-up and footprint: how long the CLI takes for `--help` and `bundle lint`, compiled
 * (`bin/ticket-surface.mjs`, running dist/) and under tsx (`src/cli.ts`), beside a bare
 * `node -e ''` measured in the same run; and the idle RSS of the service process, compiled
 * (`node dist/main.js`) and under tsx (`node --import tsx src/main.ts`), against one throwaway
 * redis-server. Runs are interleaved so a load spike hits every variant alike.
 *
 * Knobs: BENCH_CLI_RUNS (15, runs of each CLI variant), BENCH_IDLE_SECONDS (3, how long the
 * service sits idle before its RSS is read), BENCH_BEFORE_ROOT (unset: a checkout of an earlier
 * commit, with its node_modules, whose `bin/ticket-surface.mjs` is timed too, as "before").
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../scripts/build.mjs';
import { startRedisServer } from '../src/engine/redis-server.ts';
import { fmt, mb, percentile, printTable, verdict, watchdog } from './lib/report.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUNS = Math.max(1, Number(process.env.BENCH_CLI_RUNS ?? 15));
const IDLE_SECONDS = Math.max(1, Number(process.env.BENCH_IDLE_SECONDS ?? 3));
const LINTED = 'examples/bundles/postgres-database';

interface Variant {
  name: string;
  argv: string[];
  goalMs?: number;
}

const node = (args: string[]) => [process.execPath, ...args];
const compiled = (args: string[]) => node([join(ROOT, 'bin/ticket-surface.mjs'), ...args]);
const underTsx = (args: string[]) => node(['--import', 'tsx', join(ROOT, 'bench/lib/tsx-cli.ts'), ...args]);

const BEFORE = process.env.BENCH_BEFORE_ROOT;
const before = (args: string[]) => node([join(BEFORE ?? '', 'bin/ticket-surface.mjs'), ...args]);

const VARIANTS: Variant[] = [
  { name: "node -e ''", argv: node(['-e', '']) },
  { name: '--help, compiled', argv: compiled(['--help']), goalMs: 200 },
  { name: '--help, tsx', argv: underTsx(['--help']) },
  ...(BEFORE ? [{ name: '--help, before (BENCH_BEFORE_ROOT)', argv: before(['--help']) }] : []),
  { name: 'bundle lint, compiled', argv: compiled(['bundle', 'lint', LINTED]), goalMs: 500 },
  { name: 'bundle lint, tsx', argv: underTsx(['bundle', 'lint', LINTED]) },
  ...(BEFORE ? [{ name: 'bundle lint, before (BENCH_BEFORE_ROOT)', argv: before(['bundle', 'lint', LINTED]) }] : []),
];

/** Wall time of one run, in ms; throws when the command fails. */
function timeOnce(argv: string[]): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' } });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function benchCli(): void {
  for (const v of VARIANTS) timeOnce(v.argv); // warm the file cache (and the tsx cache)
  const times = new Map(VARIANTS.map((v) => [v.name, [] as number[]]));
  for (let i = 0; i < RUNS; i++) for (const v of VARIANTS) times.get(v.name)!.push(timeOnce(v.argv));
  const bare = percentile(times.get(VARIANTS[0]!.name)!, 0.5);
  const rows = [['command', 'p50', 'min', 'p50 - node -e', 'goal', '']];
  for (const v of VARIANTS) {
    const t = times.get(v.name)!;
    const p50 = percentile(t, 0.5);
    const goal = v.goalMs ? [`<= ${v.goalMs} ms`, verdict(p50 <= v.goalMs)] : ['', ''];
    rows.push([v.name, `${fmt(p50, 0)} ms`, `${fmt(Math.min(...t), 0)} ms`, v === VARIANTS[0] ? '' : `${fmt(p50 - bare, 0)} ms`, ...goal]);
  }
  console.log(`\nCLI wall time, ${RUNS} runs each, interleaved (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  printTable(rows);
}

/** RSS of a process from /proc, in bytes. */
function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? Number.NaN) * 1024;
}

let ids = 0;

/** Starts the service with `argv`, waits until it listens and has sat idle, reads its RSS, stops it. */
async function idleRss(argv: string[], redisUrl: string, extraEnv: Record<string, string> = {}): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ts-bench-startup-'));
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: `bench-${++ids}:`,
      DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'info',
      JIRA_BASE_URL: 'http://127.0.0.1:9/',
      JIRA_EMAIL: 'bench@example.invalid',
      JIRA_API_TOKEN: 'bench-token',
      JIRA_WEBHOOK_SECRET: 'bench-webhook-secret-0123456789',
      ...extraEnv,
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ticket-surface listening')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code} before listening`)));
    });
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    return rssOf(child.pid!);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function benchIdleRss(): Promise<void> {
  const redis = await startRedisServer();
  try {
    const variants = [
      { name: 'service, compiled (node dist/main.js)', argv: node([join(ROOT, 'dist/main.js')]), goal: 140e6 },
      { name: 'service, tsx (node --import tsx src/main.ts)', argv: node(['--import', 'tsx', join(ROOT, 'src/main.ts')]) },
      { name: 'webhook door only, compiled (RUN_WORKERS=false, as in the layouts)', argv: node([join(ROOT, 'dist/main.js')]), env: { RUN_WORKERS: 'false' } },
    ];
    const rows = [['process (workers on unless said, Jira configured; jira.js is loaded only with a first Jira write)', 'idle RSS', 'goal', '']];
    for (const v of variants) {
      const rss = await idleRss(v.argv, redis.url, 'env' in v ? v.env : {});
      rows.push([v.name, mb(rss), v.goal ? `<= ${mb(v.goal)}` : '', v.goal ? verdict(rss <= v.goal) : '']);
    }
    console.log(`\nIdle RSS after ${IDLE_SECONDS} s listening (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
    printTable(rows);
  } finally {
    await redis.stop();
  }
}

watchdog(10 * 60_000, 'startup bench');
await ensureBuilt();
benchCli();
await benchIdleRss();
