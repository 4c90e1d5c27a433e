/**
 * The chaos harness's processes: Redis (AOF, `appendfsync always`), the service, worker slots
 * that restart what is killed, and the sandbox processes. Everything listens on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every process the harness started, so it can stop exactly those. */
export const started = new Set<ChildProcess>();

/**
 * Spawns `command` with output appended to `<logDir>/<name>.log`. `group`: in its own process
 * group, so a kill takes its children (a step's process) with it, as a host or container crash does.
 */
export function launch(name: string, command: string[], env: NodeJS.ProcessEnv, logDir: string, group = false): ChildProcess {
  const log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  const child = spawn(command[0]!, command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: group });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  started.add(child);
  child.on('exit', () => started.delete(child));
  return child;
}

/** Stops every process the harness started (SIGTERM, then SIGKILL after a grace period). */
export async function stopAll(): Promise<void> {
  for (const c of started) c.kill('SIGTERM');
  for (let i = 0; i < 50 && started.size > 0; i++) await sleep(100);
  for (const c of started) c.kill('SIGKILL');
}

/** Redis with AOF and `appendfsync always`: nothing it acknowledged may be lost when it is killed. */
export class RedisProc {
  child: ChildProcess | undefined;
  readonly url: string;
  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly logDir: string,
  ) {
    mkdirSync(dir, { recursive: true });
    this.url = `redis://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--daemonize', 'no', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir];
    this.child = launch('redis', ['redis-server', ...args], process.env, this.logDir);
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    probe.on('error', () => undefined);
    for (let i = 0; i < 100; i++) {
      try {
        if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
        if ((await probe.ping()) === 'PONG') break;
      } catch {
        await sleep(100);
      }
    }
    probe.disconnect();
  }

  /** SIGKILL, as a crash would, then wait for the process to be gone. */
  async kill(): Promise<void> {
    const c = this.child!;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }
}

/** Reads one `ready <json>` line from a child's stdout. */
export function readyLine<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const m = /^ready (.*)$/m.exec(buf);
      if (m) {
        child.stdout!.off('data', onData);
        resolve(JSON.parse(m[1]!) as T);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before it was ready`)));
  });
}

/** One worker slot: a worker process, started again whenever it dies, until the slot is closed. */
export class WorkerSlot {
  child: ChildProcess | undefined;
  startedAt = 0;
  private closed = false;
  /** Extra environment of the next start (the fault hook's settings during the chaos). */
  chaosEnv: Record<string, string> = {};

  constructor(
    readonly name: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logDir: string,
    private readonly onKilled: (how: 'random' | 'point', point?: string) => void,
  ) {}

  start(): void {
    if (this.closed) return;
    const child = launch(this.name, [process.execPath, '--import', 'tsx', 'bench/chaos/worker.ts'], { ...this.env, ...this.chaosEnv }, this.logDir, true);
    this.child = child;
    this.startedAt = Date.now();
    let point: string | undefined;
    child.stdout!.on('data', (d: Buffer) => {
      const m = /chaos-exit (\S+)/.exec(d.toString('utf8'));
      if (m) point = m[1];
    });
    child.once('exit', (_code, signal) => {
      if (signal === 'SIGKILL') this.onKilled(point ? 'point' : 'random', point);
      if (this.child === child) this.child = undefined;
      setTimeout(() => this.start(), 300);
    });
  }

  /** SIGKILL of the worker and the step processes it runs, at a random moment (once it is up long enough to be working). */
  killNow(): boolean {
    if (!this.child?.pid || Date.now() - this.startedAt < 2500) return false;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
    return true;
  }

  /** Restarts the worker gracefully with `env` as its chaos environment. */
  async replace(env: Record<string, string>): Promise<void> {
    this.chaosEnv = env;
    const c = this.child;
    if (!c) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([gone, sleep(15_000)]);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.child;
    if (!c) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([gone, sleep(10_000)]);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
