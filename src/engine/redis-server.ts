import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';

/** A `redis-server` process this service (or a test) started for itself. */
export interface EmbeddedRedis {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

/** Options for {@link startRedisServer}. */
export interface StartRedisOptions {
  /** Directory for the AOF files; omitted means no persistence (tests). */
  dataDir?: string;
  /** Port to bind; omitted picks a free loopback port. */
  port?: number;
  /** Install redis-server with apt-get when it is missing and we are root (default true). */
  install?: boolean;
}

/** Asks the kernel for a free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Makes sure `redis-server` is on PATH: installs Debian's package when running as root,
 * otherwise throws with the one command the person has to run.
 */
export function ensureRedisServerBinary(install = true): void {
  if (hasBinary('redis-server')) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (install && isRoot && hasBinary('apt-get')) {
    process.stderr.write('redis-server is missing: installing it with apt-get\n');
    const upd = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
    const inst = spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (upd.status === 0 && inst.status === 0 && hasBinary('redis-server')) return;
  }
  throw new Error('redis-server is not installed; run: sudo apt-get install -y redis-server (or set REDIS_URL)');
}

async function waitForPing(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      let buf = '';
      sock.on('connect', () => sock.write('PING\r\n'));
      sock.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('\r\n')) {
          sock.destroy();
          resolve(buf.startsWith('+PONG'));
        }
      });
      sock.on('error', () => resolve(false));
      sock.setTimeout(500, () => {
        sock.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('redis-server did not answer PING in time');
}

/** Starts a private `redis-server` on loopback, with AOF when `dataDir` is given. */
export async function startRedisServer(opts: StartRedisOptions = {}): Promise<EmbeddedRedis> {
  ensureRedisServerBinary(opts.install ?? true);
  const port = opts.port ?? (await freePort());
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--daemonize', 'no', '--protected-mode', 'yes'];
  if (opts.dataDir) {
    mkdirSync(opts.dataDir, { recursive: true });
    args.push('--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', opts.dataDir);
  } else {
    args.push('--appendonly', 'no');
  }
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitForPing(port, child);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
