import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../engine/redis-server.ts';

/** A private PostgreSQL cluster started for tests or the demo. */
export interface EmbeddedPostgres {
  /** Loopback address the server listens on (`127.0.0.1`); TCP logins need a password. */
  host: string;
  port: number;
  /** Directory of the server's unix socket; the superuser logs in there without a password. */
  socketDir: string;
  /** Name of the cluster's superuser. */
  user: string;
  /** Data directory of the cluster. */
  dataDir: string;
  /** Directory of the PostgreSQL binaries that run it (`psql` is there too). */
  binDir: string;
  /** The environment variables a `psql` needs to log in as the superuser (PGHOST, PGPORT, PGUSER). */
  superuserEnv(): Record<string, string>;
  /** Stops the server (fast shutdown) and removes its directories. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options for {@link startPostgresServer}. */
export interface StartPostgresOptions {
  /** Port to bind on 127.0.0.1; omitted picks a free one. */
  port?: number;
  /** Install Debian's `postgresql` with apt-get when the binaries are missing and we are root (default true). */
  install?: boolean;
  /**
   * Authentication for TCP logins. The default `scram-sha-256` makes application roles prove
   * their password, so a test can tell a working credential from a wrong one; the superuser
   * always logs in through the unix socket with `trust`.
   */
  hostAuth?: 'scram-sha-256' | 'trust';
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' }).status === 0;
}

function binDirHas(dir: string): boolean {
  return existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')) && existsSync(join(dir, 'postgres'));
}

/**
 * Finds the directory holding `initdb`, `pg_ctl` and `postgres`: `pg_config --bindir` first, then
 * the newest `/usr/lib/postgresql/<major>/bin` (Debian keeps them off PATH), then PATH.
 */
export function findPostgresBinDir(): string | undefined {
  const fromConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (fromConfig.status === 0) {
    const dir = fromConfig.stdout.trim();
    if (dir && binDirHas(dir)) return dir;
  }
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const majors = readdirSync(debianRoot)
      .filter((d) => /^\d+(\.\d+)?$/.test(d))
      .sort((a, b) => Number(b) - Number(a));
    for (const major of majors) {
      const dir = join(debianRoot, major, 'bin');
      if (binDirHas(dir)) return dir;
    }
  }
  if (hasBinary('initdb') && hasBinary('pg_ctl')) {
    const which = spawnSync('sh', ['-c', 'dirname "$(command -v initdb)"'], { encoding: 'utf8' });
    const dir = which.stdout.trim();
    if (dir && binDirHas(dir)) return dir;
  }
  return undefined;
}

/**
 * Returns the PostgreSQL binary directory, installing Debian's `postgresql` package when it is
 * missing and we are root; otherwise throws with the one command the person has to run.
 */
export function ensurePostgresBinaries(install = true): string {
  const found = findPostgresBinDir();
  if (found) return found;
  if (install && isRoot() && hasBinary('apt-get')) {
    process.stderr.write('PostgreSQL is missing: installing it with apt-get\n');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const upd = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const inst = spawnSync('apt-get', ['install', '-y', '-qq', 'postgresql', 'postgresql-client'], { stdio: 'inherit', env });
    const after = findPostgresBinDir();
    if (upd.status === 0 && inst.status === 0 && after) return after;
  }
  throw new Error('PostgreSQL is not installed; run: sudo apt-get install -y postgresql');
}

/** Owner the cluster runs as: PostgreSQL refuses to run as root, so root hands it to `postgres`. */
interface RunAs {
  user: string;
  uid: number;
  gid: number;
  /** argv prefix that runs a command as that user. */
  prefix: string[];
}

function resolveRunAs(): RunAs {
  if (!isRoot()) {
    const me = userInfo();
    return { user: me.username, uid: me.uid, gid: me.gid, prefix: [] };
  }
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (id.status !== 0 || gid.status !== 0) {
    throw new Error('running as root but there is no "postgres" system user; run: sudo apt-get install -y postgresql');
  }
  const runner = hasBinary('runuser') ? ['runuser', '-u', 'postgres', '--'] : ['su', 'postgres', '-s', '/bin/sh', '-c', '"$0" "$@"'];
  return { user: 'postgres', uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()), prefix: runner };
}

/**
 * Where cluster directories go: the temp dir, unless we are root and the `postgres` user could
 * not walk into it (a private TMPDIR), then the system-wide `/tmp`.
 */
function clusterParentDir(): string {
  const dir = tmpdir();
  if (!isRoot()) return dir;
  const worldSearchable = (statSync(dir).mode & 0o001) !== 0;
  return worldSearchable ? dir : '/tmp';
}

function run(runAs: RunAs, argv: string[], what: string, logFile?: string): void {
  const full = [...runAs.prefix, ...argv];
  const r = spawnSync(full[0]!, full.slice(1), { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0) {
    let detail = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim();
    if (logFile && existsSync(logFile)) detail += `\n${readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n')}`;
    throw new Error(`${what} failed (exit ${r.status ?? r.signal}): ${detail.slice(-2000)}`);
  }
}

/**
 * Starts a private PostgreSQL cluster on 127.0.0.1 and a private unix socket directory:
 * `initdb` into a fresh temporary directory, then `pg_ctl start`. As root the cluster runs as
 * the `postgres` user (its directories are handed to it); otherwise as the current user, who is
 * also the superuser. The superuser logs in through the socket without a password.
 */
export async function startPostgresServer(opts: StartPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const binDir = ensurePostgresBinaries(opts.install ?? true);
  const runAs = resolveRunAs();
  const port = opts.port ?? (await freePort());
  // Short names: a unix socket path must stay under ~107 bytes.
  const root = mkdtempSync(join(clusterParentDir(), 'pg-'));
  const dataDir = join(root, 'data');
  const socketDir = root;
  const logFile = join(root, 'server.log');
  if (isRoot()) chownSync(root, runAs.uid, runAs.gid);

  const cleanup = (): void => {
    rmSync(root, { recursive: true, force: true });
  };
  try {
    run(
      runAs,
      [
        join(binDir, 'initdb'),
        '-D',
        dataDir,
        '-U',
        runAs.user,
        '--auth-local=trust',
        `--auth-host=${opts.hostAuth ?? 'scram-sha-256'}`,
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ],
      'initdb',
    );
    const serverOptions = [
      `-p ${port}`,
      `-k ${socketDir}`,
      '-c listen_addresses=127.0.0.1',
      // A throwaway cluster: durability buys nothing and costs seconds per test file.
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
    ].join(' ');
    run(runAs, [join(binDir, 'pg_ctl'), '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions, 'start'], 'pg_ctl start', logFile);
  } catch (err) {
    cleanup();
    throw err;
  }

  let stopped = false;
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    const full = [...runAs.prefix, join(binDir, 'pg_ctl'), '-D', dataDir, '-m', 'fast', '-w', 'stop'];
    spawnSync(full[0]!, full.slice(1), { stdio: 'ignore', timeout: 60_000 });
    cleanup();
  };
  // A test runner that exits without its after-hooks must not leave a server behind.
  process.once('exit', stopSync);

  return {
    host: '127.0.0.1',
    port,
    socketDir,
    user: runAs.user,
    dataDir,
    binDir,
    superuserEnv: () => ({ PGHOST: socketDir, PGPORT: String(port), PGUSER: runAs.user, PGDATABASE: 'postgres' }),
    stop: async () => {
      process.removeListener('exit', stopSync);
      stopSync();
    },
  };
}
