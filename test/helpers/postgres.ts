import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { startPostgresServer, type EmbeddedPostgres, type StartPostgresOptions } from '../../src/dev/postgres-server.ts';

const execFileAsync = promisify(execFile);

/** Runs `file` with `args`, writing `input` to its stdin; resolves with stdout, rejects with stderr. */
function runWithInput(file: string, args: string[], env: NodeJS.ProcessEnv, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`psql exited ${code}: ${err.trim()}`))));
    child.stdin.end(input);
  });
}

/** What {@link usePostgres} hands a test file. */
export interface PostgresContext {
  /** The running cluster (after `before` has run). */
  readonly server: EmbeddedPostgres;
  /**
   * Runs one SQL statement as the superuser with `psql` and returns the rows, each a list of
   * column strings. `vars` become psql variables (`-v name=value`) to use as `:'name'`.
   */
  query(sql: string, vars?: Record<string, string>, database?: string): Promise<string[][]>;
  /**
   * Runs one SQL statement over TCP as `user` with `password` (the way an application logs in)
   * and returns the rows; rejects when the login is refused.
   */
  queryAs(login: { user: string; password: string; database: string }, sql: string): Promise<string[][]>;
}

/**
 * Starts a throwaway PostgreSQL cluster for the calling test file and stops it afterwards.
 * The superuser logs in through the private socket; TCP logins need a real password.
 */
export function usePostgres(opts: StartPostgresOptions = {}): PostgresContext {
  let server: EmbeddedPostgres | undefined;
  before(async () => {
    server = await startPostgresServer(opts);
  });
  after(async () => {
    await server?.stop();
  });
  const need = (): EmbeddedPostgres => {
    if (!server) throw new Error('postgres not started yet');
    return server;
  };
  const rows = (stdout: string): string[][] =>
    stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.split('\x1f'));
  return {
    get server() {
      return need();
    },
    async query(sql, vars = {}, database = 'postgres') {
      const s = need();
      const args = ['-X', '-q', '-A', '-t', '-F', '\x1f', '-v', 'ON_ERROR_STOP=1', '-d', database];
      for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
      const stdout = await runWithInput(join(s.binDir, 'psql'), args, { ...process.env, ...s.superuserEnv(), PGDATABASE: database }, sql);
      return rows(stdout);
    },
    async queryAs(login, sql) {
      const s = need();
      const { stdout } = await execFileAsync(
        join(s.binDir, 'psql'),
        ['-X', '-q', '-A', '-t', '-F', '\x1f', '-v', 'ON_ERROR_STOP=1', '-w', '-c', sql],
        {
          env: {
            ...process.env,
            PGHOST: s.host,
            PGPORT: String(s.port),
            PGUSER: login.user,
            PGPASSWORD: login.password,
            PGDATABASE: login.database,
          },
        },
      );
      return rows(String(stdout));
    },
  };
}
