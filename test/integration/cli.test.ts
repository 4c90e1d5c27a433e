import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { main, type CliIo } from '../../src/cli.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/massdriver');
const DEFS = [join(FIXTURES, 'artifact-definitions'), join(FIXTURES, 'massdriver-catalog/resource-types')].join(':');

const redis = useRedis();
let env: NodeJS.ProcessEnv;
before(async () => {
  await redis.ready();
  env = { REDIS_URL: redis.url, REDIS_PREFIX: `${uniqueName('cli')}:`, LOG_LEVEL: 'silent', USER: 'carol' };
});

async function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env: { ...env, ...extraEnv }, cwd: ROOT };
  const code = await main(args, io);
  return { code, out, err };
}

function bundleDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n === 'massdriver.yaml' && !p.includes('resource-types')) out.push(dirname(p));
    }
  };
  walk(root);
  return out;
}

test('bundle lint says ok for every Massdriver fixture bundle and every example bundle', async () => {
  const dirs = [...bundleDirs(FIXTURES), ...bundleDirs(join(ROOT, 'examples/bundles'))];
  assert.ok(dirs.length >= 7, `found ${dirs.length}`);
  for (const dir of dirs) {
    const r = await cli(['bundle', 'lint', dir], { ARTIFACT_DEFINITIONS_PATH: DEFS });
    assert.equal(r.code, 0, `${dir}: ${r.out}${r.err}`);
    assert.equal(r.out.trim(), 'ok');
  }
});

test('bundle lint lists each problem with file and JSON pointer, exit 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lint-'));
  writeFileSync(
    join(dir, 'massdriver.yaml'),
    ['name: broken', 'version: 1.0.0', 'params:', '  properties:', '    net:', '      $ref: ./missing.json', 'connections:', '  properties:', '    db:', '      $ref: massdriver/no-such-type', 'steps: []', ''].join('\n'),
  );
  const r = await cli(['bundle', 'lint', dir]);
  assert.equal(r.code, 1);
  const lines = r.out.trim().split('\n');
  assert.ok(lines.some((l) => /massdriver\.yaml:6#\/params\/properties\/net\/\$ref .*missing\.json/.test(l)), r.out);
  assert.ok(lines.some((l) => /massdriver\.yaml:10#\/connections\/properties\/db\/\$ref .*no-such-type/.test(l)), r.out);
  assert.equal(lines.length, 2);
});

test('a params schema that is not valid JSON Schema is reported at its pointer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lint-'));
  writeFileSync(join(dir, 'massdriver.yaml'), 'name: broken\nversion: 1.0.0\nparams:\n  properties:\n    size:\n      type: integr\nsteps: []\n');
  const r = await cli(['bundle', 'lint', dir]);
  assert.equal(r.code, 1);
  assert.match(r.out, /massdriver\.yaml:6#\/params\/properties\/size\/type not valid JSON Schema/);
});

test('malformed YAML is reported with its line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lint-'));
  writeFileSync(join(dir, 'massdriver.yaml'), 'name: x\nparams:\n  properties: [\n');
  const r = await cli(['bundle', 'lint', dir]);
  assert.equal(r.code, 1);
  assert.match(r.out, /massdriver\.yaml:\d+/);
});

test('env create, package create/show/list, attest and audit list through the CLI', async () => {
  assert.equal((await cli(['project', 'create', 'checkout'])).code, 0);
  const e = await cli(['env', 'create', 'checkout', 'production', '--label', 'production=true']);
  assert.equal(e.code, 0, e.err);
  assert.match(e.out, /"production":true/);
  const p = await cli([
    'package', 'create', '--project', 'checkout', '--env', 'production', '--name', 'cache', '--bundle', 'redis-cache',
    '--set', 'key_prefix=checkout', '--set', 'access_level=read-write', '--set', 'max_memory_mb=256',
  ]);
  assert.equal(p.code, 0, p.err + p.out);
  assert.match(p.out, /checkout-production-cache created: redis-cache@1\.2\.0/);
  const bad = await cli(['package', 'create', '--project', 'checkout', '--env', 'production', '--name', 'cache2', '--bundle', 'redis-cache', '--set', 'key_prefix=c2', '--set', 'access_level=read-write', '--set', 'max_memory_mb=-5']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /#\/params\/max_memory_mb/);
  const show = await cli(['package', 'show', 'checkout-production-cache', '--json']);
  assert.equal(JSON.parse(show.out).bundle, 'redis-cache');
  const list = await cli(['package', 'list', '--project', 'checkout']);
  assert.match(list.out, /checkout-production-cache/);
  assert.doesNotMatch(list.out, /cache2/);
  const a = await cli(['attest', 'checkout-api@2.14.0', 'qa-signed', '--by', 'quinn']);
  assert.equal(a.code, 0, a.err);
  const unknown = await cli(['attest', 'checkout-api@7.0.0', 'qa-signed', '--by', 'quinn']);
  assert.equal(unknown.code, 1);
  const audit = await cli(['audit', 'list']);
  assert.match(audit.out, /cli\/carol package\.create package:checkout-production-cache/);
  assert.match(audit.out, /bundle\.attest/);
});

test('audit verify passes, then names the first bad event after Redis is edited by hand', async () => {
  const ok = await cli(['audit', 'verify']);
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /^ok: \d+ events/);
  // Tamper with the second event directly in Redis, as an attacker with Redis access would.
  const c = redis.client();
  const keys = await c.keys(`${env.REDIS_PREFIX}*`);
  const auditKey = keys.find((k) => /audit/.test(k) && !/head|seq|idx/.test(k));
  assert.ok(auditKey, `audit key among ${keys.join(', ')}`);
  const type = await c.type(auditKey);
  if (type === 'list') {
    const raw = await c.lindex(auditKey, 1);
    await c.lset(auditKey, 1, raw!.replace('"actor":"carol"', '"actor":"mallory"'));
  } else if (type === 'hash') {
    const raw = await c.hget(auditKey, '2');
    await c.hset(auditKey, '2', raw!.replace('"actor":"carol"', '"actor":"mallory"'));
  } else if (type === 'zset') {
    const [member] = await c.zrangebyscore(auditKey, 2, 2);
    await c.zrem(auditKey, member!);
    await c.zadd(auditKey, 2, member!.replace('"actor":"carol"', '"actor":"mallory"'));
  } else {
    assert.fail(`unexpected audit key type ${type}`);
  }
  const bad = await cli(['audit', 'verify']);
  assert.equal(bad.code, 1);
  assert.match(bad.out, /broken at event #2/);
});

test('the bin runs as installed, from another directory', { timeout: 60_000 }, async () => {
  assert.ok(existsSync(join(ROOT, 'bin/ticket-surface.mjs')));
  const { stdout } = await run(process.execPath, [join(ROOT, 'bin/ticket-surface.mjs'), 'bundle', 'lint', join(ROOT, 'examples/bundles/redis-cache')], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  assert.equal(stdout.trim(), 'ok');
});

test('bundle lint of a folder outside the working directory names it as typed, not as ../../..', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'lint-missing-')), 'nothing-here');
  const r = await cli(['bundle', 'lint', dir]);
  assert.equal(r.code, 1);
  assert.equal(r.out.trim(), `${join(dir, 'massdriver.yaml')}# file not found`);
  assert.equal(r.err.trim(), '1 problem');
});

test('a bad query argument is one error with that query\'s usage; an unknown query lists them all', async () => {
  const bad = await cli(['query', 'where-runs']);
  assert.equal(bad.code, 1);
  assert.equal(bad.out, '');
  assert.match(bad.err, /^error: bad argument for where-runs: .*required \(usage: where-runs <bundle> \[--top N\]\)\n$/);
  const unknown = await cli(['query', 'no-such-query']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.err.match(/^error: /gm)?.length, 1);
  assert.match(unknown.err, /^Queries:\n(?: {2}.+\n)+$/m);
});

test('audit verify counts in plain grammar: one event is "1 event"', async () => {
  const prefix = { REDIS_PREFIX: `${uniqueName('cli-one')}:` };
  assert.equal((await cli(['project', 'create', 'solo'], prefix)).code, 0);
  const r = await cli(['audit', 'verify'], prefix);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), 'ok: 1 event, chain intact');
});

test('a system error from a ticket site is one line naming what failed, exit 1, no stack trace', async () => {
  const r = await cli(['forms', 'sync', '--surface', 'jira'], {
    JIRA_BASE_URL: 'http://127.0.0.1:9',
    JIRA_EMAIL: 'svc@example.com',
    JIRA_API_TOKEN: 'not-a-real-token',
    JIRA_WEBHOOK_SECRET: 'a-webhook-secret-of-20',
  });
  assert.equal(r.code, 1);
  assert.match(r.err, /^error: JiraUnavailableError \(system\): Jira GET \S+ failed: ECONNREFUSED\n$/);
  assert.doesNotMatch(r.err, /\n\s+at /);
});
