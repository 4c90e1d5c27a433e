import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { configSecrets, loadConfig } from '../../src/config.ts';
import { freePort } from '../../src/engine/redis-server.ts';

// No Docker engine runs here, so the files are checked by parsing them.
const ROOT = new URL('../../', import.meta.url);

test('Dockerfile is multi-stage on Node 22 LTS and runs as a non-root user', () => {
  const lines = readFileSync(new URL('Dockerfile', ROOT), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const froms = lines.filter((l) => /^FROM\s/i.test(l));
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) assert.match(f, /^FROM node:22[-\w.]*\s+AS\s+\w+/i);
  const user = lines.filter((l) => /^USER\s/i.test(l)).pop();
  assert.ok(user && !/\broot\b|\b0\b/.test(user), `last USER is non-root: ${user}`);
  assert.ok(lines.some((l) => /^COPY --from=/i.test(l)), 'runtime copies from the build stage');
  // The last CMD is the image's (a HEALTHCHECK's continuation line starts with CMD too).
  const cmd = lines.filter((l) => /^CMD\s/i.test(l)).pop();
  assert.ok(cmd && cmd.includes('dist/main.js'), 'the image runs the compiled service');
  for (const c of lines.filter((l) => /^COPY\s(?!--from)/i.test(l))) {
    const srcs = c.replace(/^COPY\s+/i, '').split(/\s+/).slice(0, -1);
    for (const s of srcs) assert.ok(existsSync(new URL(s, ROOT)), `COPY source ${s} exists`);
  }
});

test('the image checks its own health on /readyz; the build context leaves out dependencies, data, tests and git', () => {
  const dockerfile = readFileSync(new URL('Dockerfile', ROOT), 'utf8');
  const check = /^HEALTHCHECK\s(?:.*\\\n)*.*$/m.exec(dockerfile)?.[0];
  assert.ok(check, 'a HEALTHCHECK instruction');
  assert.match(check, /CMD \[/);
  assert.match(check, /\/readyz/);
  const ignored = readFileSync(new URL('.dockerignore', ROOT), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const entry of ['node_modules', '.data', '.git', 'test']) assert.ok(ignored.includes(entry), `.dockerignore lists ${entry}`);
  const compose = parse(readFileSync(new URL('docker-compose.yml', ROOT), 'utf8')) as { services: Record<string, { healthcheck?: { disable?: boolean } }> };
  assert.equal(compose.services.worker?.healthcheck?.disable, true, 'the worker, which runs no HTTP listener, turns the check off');
});

type ComposeService = { image?: string; build?: string; command?: string[]; environment?: Record<string, string>; depends_on?: unknown };

/** Compose's variable interpolation as far as the file uses it: `${VAR:?message}` and `${VAR:-default}`. */
function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    const v = env[name];
    if (v) return v;
    if (op === '?') throw new Error(`compose refuses to start: ${name}: ${arg}`);
    return op === '-' ? (arg ?? '') : '';
  });
}

/** The first reply line to a PING sent without credentials. */
function anonymousPing(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString('utf8').split('\r\n')[0]!);
    });
    socket.once('error', reject);
  });
}

function composeServices(): Record<string, ComposeService> {
  return (parse(readFileSync(new URL('docker-compose.yml', ROOT), 'utf8')) as { services: Record<string, ComposeService> }).services;
}

test('docker-compose.yml runs Redis with AOF and a password, the service and a worker', () => {
  const { redis, service, worker } = composeServices();
  assert.ok(redis && service && worker);
  assert.match(redis.image!, /^redis:/);
  assert.ok(redis.command!.join(' ').includes('--appendonly yes'));
  assert.ok(redis.command!.join(' ').includes('--requirepass ${REDIS_PASSWORD:?'), 'Redis requires the password, and compose refuses to start without one');
  for (const s of [service, worker]) {
    assert.equal(s.build, '.');
    assert.equal(s.environment!.REDIS_URL, 'redis://:${REDIS_PASSWORD:?set REDIS_PASSWORD}@redis:6379');
    assert.match(s.environment!.SECRETS_KEY!, /^\$\{SECRETS_KEY:\?/);
    assert.ok(s.depends_on);
  }
  assert.ok(service.command!.join(' ').includes('dist/main.js'));
  assert.ok(worker.command!.join(' ').includes('dist/worker-main.js'));
  assert.throws(() => interpolate(service.environment!.REDIS_URL!, {}), /REDIS_PASSWORD/);
});

test('the compose Redis refuses clients without the password; the service URL carries it and is a valid configuration', async () => {
  const { redis, service } = composeServices();
  const env = { REDIS_PASSWORD: `pw-${randomBytes(12).toString('hex')}`, SECRETS_KEY: randomBytes(32).toString('base64') };
  const args = redis.command!.slice(1).map((a) => interpolate(a, env));
  const dir = mkdtempSync(join(tmpdir(), 'compose-redis-'));
  const port = await freePort();
  const server = spawn('redis-server', [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''], { stdio: 'ignore' });
  const url = interpolate(service.environment!.REDIS_URL!, env).replace('@redis:6379', `@127.0.0.1:${port}`);
  const authed = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    for (let i = 0; (await anonymousPing(port).catch(() => undefined)) === undefined; i++) {
      if (i > 100) throw new Error('redis-server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    await authed.connect();
    assert.equal(await authed.ping(), 'PONG');
    assert.match(await anonymousPing(port), /^-NOAUTH/);
    const config = loadConfig({ REDIS_URL: url, SECRETS_KEY: env.SECRETS_KEY, NODE_ENV: 'production' });
    assert.ok(configSecrets(config).includes(env.REDIS_PASSWORD), 'the Redis password is redacted like any configured secret');
  } finally {
    authed.disconnect();
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
