/**
 * The deployed layout, each part in its own process on loopback: redis-server, the Jira sandbox
 * (bench/lib/sandbox-proc.ts, under tsx), the compiled service (`node dist/main.js`,
 * RUN_WORKERS=false) and one or more compiled worker processes (`node dist/worker-main.js`),
 * with the bench's noop bundle, overlay and policy. CPU time of each process is read from
 * `/proc/<pid>/stat` (user + system), so the service's CPU is counted apart from the sandbox's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startRedisServer, type EmbeddedRedis } from '../../src/engine/redis-server.ts';
import { Inventory } from '../../src/engine/inventory.ts';
import { SurfaceIdStore } from '../../src/engine/surface-ids.ts';
import { freePort, readyLine } from '../chaos/procs.ts';
import { noopWorldOptions } from './noop-request.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system) of process `pid` so far, in ms; NaN once it is gone. */
export function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Resident set size of process `pid`, in bytes. */
export function rssBytes(pid: number | undefined): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Peak resident set size of process `pid` so far (VmHWM), in bytes. */
export function peakRssBytes(pid: number | undefined): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Node flags that write a CPU profile of a `role` process (`service` or `worker`) when
 * `BENCH_CPU_PROF` names a directory (opt-in; each process writes its own `.cpuprofile` into
 * `<dir>/<role>` when it exits).
 */
function profileArgs(role: 'service' | 'worker'): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${join(resolve(dir), role)}`] : [];
}

/** Times of filed tickets, from the sandbox process. */
export type Times = Record<string, { created: number; planned: number | null }>;

/** A running layout. */
export interface Layout {
  service: ChildProcess;
  workers: ChildProcess[];
  sandbox: ChildProcess;
  redis: EmbeddedRedis;
  /** Files `count` no-op tickets at once in the sandbox process; their keys. */
  file(count: number, tag: string): Promise<string[]>;
  times(): Promise<Times>;
  report(): Promise<{ violations: number; calls: number }>;
  close(): Promise<void>;
}

/** Waits until `url` answers 2xx (at most `ms`). */
export async function waitHttp(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await fetch(url).catch(() => undefined))?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

/** Stops `child` (SIGTERM, then SIGKILL after 10 s). */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
  return gone.finally(() => clearTimeout(hard));
}

/** Layouts not closed yet, so a watchdog can stop their processes. */
export const openLayouts = new Set<Layout>();

/** Starts the layout with `workers` worker processes; the project and environment exist, the forms are synced. */
export async function startLayout(workers: number): Promise<Layout> {
  const dir = mkdtempSync(join(tmpdir(), 'ts-bench-layout-'));
  const redis = await startRedisServer();
  const servicePort = await freePort();
  const serviceUrl = `http://127.0.0.1:${servicePort}`;
  const sandbox = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/sandbox-proc.ts', '--service-url', serviceUrl], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const children: ChildProcess[] = [sandbox];
  const layout = {} as Layout;
  const cleanup = async () => {
    openLayouts.delete(layout);
    for (const c of children.reverse()) await stop(c);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sb = await readyLine<{ control: string; env: Record<string, string> }>(sandbox);
    const opts = noopWorldOptions();
    // A throwaway key, so the processes do not warn about the development key.
    const env: NodeJS.ProcessEnv = { ...process.env, ...sb.env, SECRETS_KEY: randomBytes(32).toString('base64'), REDIS_URL: redis.url, DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'warn', BUNDLE_PATH: opts.bundlePaths!.join(':'), POLICY_FILE: opts.policyFile, FORMS_DIR: opts.formsDir };
    const conn = new Redis(redis.url);
    const ops = { actor: 'platform-admin', surface: 'cli' as const };
    const inventory = new Inventory({ redis: conn, prefix: 'ts:' });
    await inventory.createProject({ name: 'checkout' }, ops);
    await inventory.createEnvironment({ project: 'checkout', name: 'staging', labels: { production: false } }, ops);
    const service = spawn(process.execPath, [...profileArgs('service'), 'dist/main.js'], { cwd: ROOT, env: { ...env, RUN_WORKERS: 'false', HOST: '127.0.0.1', PORT: String(servicePort) }, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(service);
    await waitHttp(`${serviceUrl}/healthz`, 60_000);
    const sync = spawnSync(process.execPath, ['bin/ticket-surface.mjs', 'forms', 'sync', '--surface', 'jira'], { cwd: ROOT, env, encoding: 'utf8' });
    if (sync.status !== 0) throw new Error(`forms sync failed: ${sync.stderr}`);
    const procs = Array.from({ length: workers }, () => spawn(process.execPath, [...profileArgs('worker'), 'dist/worker-main.js'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] }));
    children.push(...procs);
    const f = await new SurfaceIdStore(conn, 'ts:').all('jira');
    conn.disconnect();
    const fields = { [f['request/bundle']!]: { value: 'noop' }, [f['request/environment']!]: { value: 'staging' }, [f['noop/size']!]: 1 };
    const post = async (path: string, body: unknown) => (await fetch(`${sb.control}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
    Object.assign(layout, {
      service,
      workers: procs,
      sandbox,
      redis,
      file: async (count: number, tag: string) => ((await post('/bench/file', { count, tag, fields, labelField: f['noop/label'], packageField: f['request/package'] })) as { keys: string[] }).keys,
      times: async () => (await (await fetch(`${sb.control}/bench/times`)).json()) as Times,
      report: async () => (await (await fetch(`${sb.control}/bench/report`)).json()) as { violations: number; calls: number },
      close: cleanup,
    });
    openLayouts.add(layout);
    return layout;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
