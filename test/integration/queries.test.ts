import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { AxiosInstance } from 'axios';
import type { Redis } from 'ioredis';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { openEngine, type OpenedEngine } from '../../src/workflow/bootstrap.ts';
import { startService, type RunningService } from '../../src/service.ts';
import { main, type CliIo } from '../../src/cli.ts';
import { apiAs } from '../helpers/api-tokens.ts';
import { QueryCatalog, QueryError, parseQueryText, rankStacks } from '../../src/workflow/queries.ts';
import type { AuditContext } from '../../src/engine/audit.ts';
import type { Engine } from '../../src/workflow/engine.ts';

const redis = useRedis();
let config: Config;
let opened: OpenedEngine;
let engine: Engine;
let service: RunningService;
let api: AxiosInstance;
let erin: AxiosInstance;
let prefix: string;
let raw: Redis;
const admin: AuditContext = { actor: 'platform-admin', surface: 'cli' };
const SECRET = 'pw-Zq8!never-in-an-answer';
const QUERY_NAMES = ['most-expensive', 'where-runs', 'environment', 'who-changed', 'waiting', 'frozen', 'leases', 'package', 'drift'];

/** The seeded inventory: [project, env, package, bundle, version, monthly cost (undefined: none), status]. */
const SEED: [string, string, string, string, string, number | undefined, string?][] = [
  ['checkout', 'production', 'orders-db', 'postgres-database', '1.4.0', 620],
  ['checkout', 'production', 'cache', 'redis-cache', '1.0.0', 180],
  ['checkout', 'production', 'api', 'checkout-api', '2.13.2', 140],
  ['checkout', 'production', 'queue', 'redis-cache', '1.0.0', 100],
  ['checkout', 'production', 'logs', 'postgres-database', '1.4.0', 200],
  ['search', 'production', 'index', 'postgres-database', '1.4.0', 700],
  ['search', 'production', 'api', 'checkout-api', '2.14.0', 280],
  ['checkout', 'staging', 'orders-db', 'postgres-database', '1.4.0', 160],
  ['checkout', 'staging', 'cache', 'redis-cache', '1.0.0', 90],
  ['checkout', 'staging', 'api', 'checkout-api', '2.12.0', 60],
  ['search', 'staging', 'index', 'postgres-database', '1.4.0', 50.5],
  ['search', 'staging', 'api', 'checkout-api', '2.14.0', 20.25],
  ['billing', 'dev', 'ledger', 'postgres-database', '1.4.0', 12],
  ['billing', 'dev', 'scratch', 'redis-cache', '1.0.0', undefined],
  ['billing', 'dev', 'old', 'postgres-database', '1.4.0', 999, 'decommissioned'],
  ['billing', 'staging', 'ledger', 'postgres-database', '1.4.0', undefined],
];

before(async () => {
  await redis.ready();
  prefix = `${uniqueName('queries')}:`;
  config = loadConfig({ REDIS_URL: redis.url, PORT: '0', REDIS_PREFIX: prefix, LOG_LEVEL: 'silent' });
  opened = await openEngine(config);
  engine = opened.engine;
  raw = redis.client();
  redis.cleanup(() => opened.close());
  for (const project of new Set(SEED.map((s) => s[0]))) await engine.createProject({ id: project }, admin);
  for (const env of new Set(SEED.map((s) => `${s[0]}/${s[1]}`))) {
    const [project, name] = env.split('/') as [string, string];
    await engine.createEnvironment({ project, name, labels: { production: name === 'production' } }, admin);
  }
  for (const [project, env, name, bundle, version, cost, status] of SEED) {
    await engine.inventory.createPackage(
      { environment: `${project}-${env}`, name, bundle, version, ...(cost !== undefined ? { costMonthly: cost } : {}), ...(status ? { status: status as never } : {}) },
      admin,
    );
  }
  // A produced artifact with a password and a secret param: neither may appear in any answer.
  await engine.inventory.modify('package', 'checkout-production-orders-db', (d) => {
    d.artifacts = { authentication: { data: { username: 'orders', password: SECRET } } };
    d.desiredParams = { database_name: 'orders', admin_password: SECRET };
    d.status = 'ready';
  }, { actor: '712020:bob', surface: 'jira' });
  await engine.inventory.modify('package', 'checkout-production-orders-db', (d) => {
    d.costMonthly = 620;
    d.version = '1.4.0';
    d.lastAppliedParams = { database_name: 'orders' };
  }, { actor: 'alice', surface: 'http' });
  const dep = await engine.inventory.createDeployment({ package: 'checkout-production-orders-db', action: 'apply', status: 'running' }, admin);
  await engine.inventory.modify('deployment', dep.id, (d) => {
    d.status = 'succeeded';
    d.finishedAt = '2026-11-24T10:05:00.000Z';
  }, admin);
  // QA signed 2.13.2 and 2.14.0 of checkout-api; nothing of redis-cache.
  await engine.attest('checkout-api', '2.13.2', 'qa-signed', 'quinn', admin);
  await engine.attest('checkout-api', '2.14.0', 'qa-signed', 'quinn', admin);

  service = await startService(config, createLogger('silent'));
  redis.cleanup(() => service.close());
  api = await apiAs(service.runtime, service.url, 'quinn', 'admin');
  // Erin reads and asks, nothing more (a reader in examples/directory.yaml).
  erin = await apiAs(service.runtime, service.url, 'erin', 'reader');
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = {
    out: (t) => void (out += `${t}\n`),
    err: (t) => void (err += `${t}\n`),
    env: { REDIS_URL: redis.url, REDIS_PREFIX: prefix, LOG_LEVEL: 'silent', USER: 'carol' },
    cwd: process.cwd(),
  };
  const code = await main(args, io);
  return { code, out, err };
}

/** Every key of this test's prefix with its content, the audit log's keys left out. */
async function snapshot(): Promise<Record<string, unknown>> {
  const keys = (await raw.keys(`${prefix}*`)).filter((k) => !k.startsWith(`${prefix}audit:`)).sort();
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const type = await raw.type(k);
    if (type === 'hash') out[k] = await raw.hgetall(k);
    else if (type === 'zset') out[k] = await raw.call('ZRANGE', k, '0', '-1', 'WITHSCORES');
    else if (type === 'string') out[k] = await raw.get(k);
    else if (type === 'set') out[k] = (await raw.smembers(k)).sort();
    else if (type === 'list') out[k] = await raw.lrange(k, 0, -1);
    else out[k] = type;
  }
  return out;
}

/** The expected ranking, computed straight from SEED. */
function expectedStacks(): { stack: string; cost: number; top: string[] }[] {
  const by = new Map<string, { cost: number; pkgs: [string, number][] }>();
  for (const [project, env, name, , , cost, status] of SEED) {
    if (cost === undefined || status === 'decommissioned') continue;
    const key = `${project} / ${env}`;
    const s = by.get(key) ?? { cost: 0, pkgs: [] };
    s.cost += cost;
    s.pkgs.push([name, cost]);
    by.set(key, s);
  }
  return [...by.entries()]
    .map(([stack, s]) => ({ stack, cost: Math.round(s.cost * 100) / 100, top: s.pkgs.sort((a, b) => b[1] - a[1]).slice(0, 3).map((p) => p[0]) }))
    .sort((a, b) => b.cost - a.cost);
}

test('most-expensive through the API: stacks ranked by summed cost, biggest packages, top N and how to get the rest', async () => {
  const expected = expectedStacks();
  assert.equal(expected.length, 5);
  const r = await api.get('/v1/queries/most-expensive', { params: { top: 3 } });
  assert.equal(r.status, 200, JSON.stringify(r.data));
  assert.deepEqual(r.data.columns, ['#', 'project / environment', 'cost/month', 'biggest packages']);
  assert.deepEqual(r.data.rows.map((row: string[]) => row[1]), expected.slice(0, 3).map((e) => e.stack));
  assert.deepEqual(r.data.data.stacks.map((s: { costMonthly: number }) => s.costMonthly), expected.slice(0, 3).map((e) => e.cost));
  assert.deepEqual(r.data.data.stacks[0].top.map((p: { name: string }) => p.name), expected[0]!.top);
  assert.equal(r.data.rows[0][2], '$1,240.00');
  assert.equal(r.data.rows[0][3], 'orders-db $620 · logs $200 · cache $180');
  assert.equal(r.data.footer, '2 more stacks: ticket-surface query most-expensive --top 5');
  assert.equal(r.data.data.totalStacks, 5);
  assert.deepEqual(r.data.query, { name: 'most-expensive', args: { top: 3 } });

  // Default top is 5: every stack fits, so the footer is the total instead.
  const all = await api.get('/v1/queries/most-expensive');
  assert.equal(all.data.rows.length, 5);
  assert.equal(all.data.rows[3][3], 'index $50.50 · api $20.25');
  assert.equal(all.data.data.totalCostMonthly, expected.reduce((s, e) => s + e.cost, 0));
  assert.match(all.data.footer, /^Total of all stacks: \$2,612\.75\/month\.$/);
});

test('the catalog is listed with each query and its arguments', async () => {
  const r = await api.get('/v1/queries');
  assert.equal(r.status, 200);
  assert.deepEqual(r.data.queries.map((q: { name: string }) => q.name), QUERY_NAMES);
  const where = r.data.queries.find((q: { name: string }) => q.name === 'where-runs');
  assert.equal(where.usage, 'where-runs <bundle> [--top N]');
  assert.deepEqual(where.args.map((a: { name: string; required: boolean }) => [a.name, a.required]), [['bundle', true], ['top', false]]);
});

test('where-runs: environments, versions, and how far behind the latest qa-signed version', async () => {
  const r = await api.get('/v1/queries/where-runs', { params: { bundle: 'checkout-api' } });
  assert.equal(r.status, 200, JSON.stringify(r.data));
  const byStack = Object.fromEntries(r.data.rows.map((row: string[]) => [`${row[0]} ${row[1]}`, row]));
  assert.deepEqual(byStack['checkout / production api'], ['checkout / production', 'api', '2.13.2', '2.14.0', '1 version behind']);
  assert.deepEqual(byStack['checkout / staging api'], ['checkout / staging', 'api', '2.12.0', '2.14.0', '2 versions behind']);
  assert.equal(byStack['search / production api'][4], 'up to date');
  assert.equal(r.data.rows.length, SEED.filter((s) => s[3] === 'checkout-api').length);
  assert.equal(r.data.data.latestQaSigned, '2.14.0');
  assert.match(r.data.footer, /4 packages, 2 behind the latest qa-signed version/);

  const redisCache = await api.get('/v1/queries/where-runs', { params: { bundle: 'redis-cache', top: 2 } });
  assert.equal(redisCache.data.rows.length, 2);
  assert.equal(redisCache.data.rows[0][4], 'no qa-signed version');
  const total = SEED.filter((s) => s[3] === 'redis-cache').length;
  assert.equal(redisCache.data.footer, `${total - 2} more packages: ticket-surface query where-runs redis-cache --top ${total}`);
});

test('environment: what runs there, most expensive first, with the total; never a param or an artifact', async () => {
  const r = await api.get('/v1/queries/environment', { params: { project: 'checkout', env: 'production' } });
  assert.equal(r.status, 200, JSON.stringify(r.data));
  const names = SEED.filter((s) => s[0] === 'checkout' && s[1] === 'production').sort((a, b) => b[5]! - a[5]!).map((s) => s[2]);
  assert.deepEqual(r.data.rows.map((row: string[]) => row[0]), names);
  assert.deepEqual(r.data.rows[0], ['orders-db', 'postgres-database', '1.4.0', 'ready', '$620.00']);
  assert.equal(r.data.footer, '5 packages, $1,240.00/month.');
  assert.ok(!JSON.stringify(r.data).includes(SECRET));
  assert.ok(!JSON.stringify(r.data).includes('admin_password'));
  const missing = await api.get('/v1/queries/environment', { params: { project: 'checkout', env: 'nowhere' } });
  assert.equal(missing.status, 400);
  assert.match(missing.data.error.message, /unknown environment "checkout-nowhere"/);
});

test('who-changed: who, when and through which surface, newest first, names of changed fields only', async () => {
  const r = await api.get('/v1/queries/who-changed', { params: { package: 'checkout-production-orders-db' } });
  assert.equal(r.status, 200, JSON.stringify(r.data));
  const who = r.data.rows.map((row: string[]) => [row[1], row[2]]);
  assert.deepEqual(who, [
    ['alice', 'http'],
    ['712020:bob', 'jira'],
    ['platform-admin', 'cli'],
  ]);
  assert.match(r.data.rows[1][3], /^package\.update \(.*artifacts.*\)$/);
  assert.match(r.data.rows[1][3], /desiredParams/);
  assert.equal(r.data.rows[2][3], 'package.create');
  assert.match(r.data.rows[0][0], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
  assert.ok(!JSON.stringify(r.data).includes(SECRET));
  const one = await api.get('/v1/queries/who-changed', { params: { package: 'checkout-production-orders-db', top: 1 } });
  assert.equal(one.data.footer, '2 more changes: ticket-surface query who-changed checkout-production-orders-db --top 3');
});

test('package: status and last deployment, without its secrets', async () => {
  const r = await api.get('/v1/queries/package', { params: { id: 'checkout-production-orders-db' } });
  assert.equal(r.status, 200, JSON.stringify(r.data));
  const row = (k: string) => r.data.rows.find((x: string[]) => x[0] === k)?.[1];
  assert.equal(row('status'), 'ready');
  assert.match(row('last deployment'), /^apply succeeded at 2026-11-24 10:05 UTC \(dep_[a-z0-9]+\)$/);
  assert.equal(r.data.data.lastDeployment.status, 'succeeded');
  assert.equal(row('cost/month'), '$620.00');
  assert.ok(!JSON.stringify(r.data).includes(SECRET));
  assert.equal(r.data.data.artifacts, undefined);
  const never = await api.get('/v1/queries/package', { params: { id: 'billing-dev-ledger' } });
  assert.equal(never.data.rows.find((x: string[]) => x[0] === 'last deployment')[1], 'none yet');
});

test('waiting: scheduled requests by when their window opens, then requests awaiting approval', async () => {
  const mk = async (ref: string, bundle: string) =>
    engine.requests.createRequest({
      kind: 'provision',
      actor: { id: '712020:dev-dana', displayName: 'Dana Developer' },
      origin: { surface: 'jira', ref },
      project: 'checkout',
      environment: 'production',
      bundle,
    });
  const walk = async (id: string, states: string[], last?: Record<string, unknown>) => {
    let r = await engine.requests.get(id);
    for (const [i, s] of states.entries()) {
      r = await engine.requests.transition(id, r.revision, s as never, { by: 'engine', ...(i === states.length - 1 && last ? { patch: last } : {}) });
    }
    return r;
  };
  const awaiting = await mk('INFRA-1', 'redis-cache');
  await walk(awaiting.id, ['validated', 'planned', 'awaiting_approval'], {
    decisions: [{ rule: 'approvals', outcome: 'needs_approval', reason: 'production', approvers: { groups: ['release-managers', 'platform-approvers'], count: 1 } }],
  });
  const later = await mk('INFRA-2', 'postgres-database');
  await walk(later.id, ['validated', 'planned', 'approved', 'scheduled'], { scheduledFor: '2026-12-01T09:00:00.000Z' });
  const sooner = await mk('INFRA-3', 'checkout-api');
  await walk(sooner.id, ['validated', 'planned', 'approved', 'scheduled'], { scheduledFor: '2026-11-26T09:00:00.000Z' });
  const done = await mk('INFRA-4', 'redis-cache');
  await walk(done.id, ['cancelled']);

  const r = await api.get('/v1/queries/waiting');
  assert.equal(r.status, 200, JSON.stringify(r.data));
  assert.deepEqual(r.data.rows.map((row: string[]) => row[1]), ['INFRA-3', 'INFRA-2', 'INFRA-1']);
  assert.equal(r.data.rows[0][4], 'window opens 2026-11-26 09:00 UTC');
  assert.equal(r.data.rows[2][4], 'approval from release-managers or platform-approvers');
  assert.equal(r.data.rows[2][3], 'awaiting approval');
  assert.equal(r.data.rows[0][2], 'provision checkout-api in checkout / production');
  assert.equal(r.data.data.requests[0].windowOpens, '2026-11-26T09:00:00.000Z');
});

test('a question writes nothing but one query.ask audit event naming who asked and through which surface', async () => {
  for (const [name, params] of [
    ['most-expensive', { top: 2 }],
    ['where-runs', { bundle: 'checkout-api' }],
    ['environment', { project: 'search', env: 'staging' }],
    ['who-changed', { package: 'search-production-index' }],
    ['waiting', {}],
    ['frozen', {}],
    ['leases', {}],
    ['package', { id: 'search-production-index' }],
  ] as const) {
    const before = await snapshot();
    const head = await engine.inventory.audit.head();
    const r = await erin.get(`/v1/queries/${name}`, { params });
    assert.equal(r.status, 200, `${name}: ${JSON.stringify(r.data)}`);
    assert.deepEqual(await snapshot(), before, `${name} changed something besides the audit log`);
    const events = await engine.inventory.audit.list({ after: head.seq });
    assert.equal(events.length, 1, name);
    assert.equal(events[0]!.action, 'query.ask');
    assert.equal(events[0]!.actor, 'erin');
    assert.equal(events[0]!.surface, 'http');
    assert.deepEqual(events[0]!.subject, { type: 'query', id: name });
  }
  assert.deepEqual(await engine.verifyAudit(), { ok: true, count: (await engine.inventory.audit.head()).seq });
});

test('an unknown query or a bad argument is answered with the list of queries and their arguments', async () => {
  const head = await engine.inventory.audit.head();
  for (const [path, problem] of [
    ['/v1/queries/cheapest', /unknown query "cheapest"/],
    ['/v1/queries/most-expensive?top=0', /--top must be at least 1/],
    ['/v1/queries/most-expensive?top=lots', /--top must be a number/],
    ['/v1/queries/most-expensive?top=500', /--top must be at most 100/],
    ['/v1/queries/most-expensive?tpo=3', /--tpo is not an argument of most-expensive/],
    ['/v1/queries/where-runs', /bundle is required/],
    ['/v1/queries/where-runs?bundle=no-such-bundle', /unknown bundle "no-such-bundle"/],
    ['/v1/queries/package?id=nope', /unknown package "nope"/],
  ] as const) {
    const r = await api.get(path);
    assert.equal(r.status, 400, path);
    assert.equal(r.data.error.code, 'validation');
    assert.match(r.data.error.message, problem, path);
    for (const q of QUERY_NAMES) assert.match(r.data.error.message, new RegExp(`\\n  ${q}\\b`), `${path} lists ${q}`);
    assert.match(r.data.error.message, /where-runs <bundle> \[--top N\]/);
    assert.match(r.data.error.message, /environment <project> <env> \[--top N\]/);
  }
  assert.equal((await engine.inventory.audit.head()).seq, head.seq, 'a refused question is not audited');
});

test('CLI: query most-expensive --top 3 prints a table; --json the same answer as the API', async () => {
  const expected = expectedStacks();
  const text = await cli(['query', 'most-expensive', '--top', '3']);
  assert.equal(text.code, 0, text.err);
  const lines = text.out.trim().split('\n');
  assert.match(lines[0]!, /^Most expensive stacks \(monthly estimate\) \(\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\)$/);
  assert.match(lines[1]!, /^ {2}# +project \/ environment +cost\/month +biggest packages$/);
  assert.match(lines[2]!, /^ {2}1 +checkout \/ production +\$1,240\.00 +orders-db \$620 · logs \$200 · cache \$180$/);
  assert.equal(lines.length, 2 + 3 + 1);
  assert.equal(lines[5], '2 more stacks: ticket-surface query most-expensive --top 5');

  const json = await cli(['query', 'most-expensive', '--top', '4', '--json']);
  assert.equal(json.code, 0, json.err);
  const answer = JSON.parse(json.out);
  const viaApi = (await api.get('/v1/queries/most-expensive', { params: { top: 4 } })).data;
  assert.deepEqual(answer.rows, viaApi.rows);
  assert.deepEqual(answer.data.stacks.map((s: { costMonthly: number }) => s.costMonthly), expected.slice(0, 4).map((e) => e.cost));
  const last = (await engine.listAudit({ order: 'desc', limit: 3 })).filter((e) => e.action === 'query.ask');
  assert.ok(last.some((e) => e.actor === 'carol' && e.surface === 'cli'), 'the CLI question is audited as carol on the cli surface');
});

test('CLI: every query with positional arguments; bad ones exit 1 with that query\'s usage', async () => {
  const where = await cli(['query', 'where-runs', 'checkout-api']);
  assert.equal(where.code, 0, where.err);
  assert.match(where.out, /checkout \/ staging +api +2\.12\.0 +2\.14\.0 +2 versions behind/);
  const env = await cli(['query', 'environment', 'checkout', 'staging']);
  assert.match(env.out, /orders-db +postgres-database +1\.4\.0 +new +\$160\.00/);
  assert.match(env.out, /3 packages, \$310\.00\/month\./);
  const who = await cli(['query', 'who-changed', 'checkout-production-orders-db', '--json']);
  assert.deepEqual(JSON.parse(who.out).data.changes.map((c: { actor: string }) => c.actor), ['alice', '712020:bob', 'platform-admin']);
  const pkg = await cli(['query', 'package', 'checkout-production-orders-db']);
  assert.match(pkg.out, /last deployment +apply succeeded/);
  assert.ok(!pkg.out.includes(SECRET));
  const waiting = await cli(['query', 'waiting', '--top', '1']);
  assert.match(waiting.out, /INFRA-3/);
  assert.match(waiting.out, /2 more requests: ticket-surface query waiting --top 3/);

  const list = await cli(['query']);
  assert.equal(list.code, 0);
  for (const q of QUERY_NAMES) assert.match(list.out, new RegExp(`^  ${q}\\b`, 'm'));

  const bad = await cli(['query', 'most-expensive', '--top', 'many']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--top must be a number/);
  assert.match(bad.err, /usage: most-expensive \[--top N\]/);
  assert.doesNotMatch(bad.err, /who-changed <package>/, 'not the whole list for a known query');
  const extra = await cli(['query', 'waiting', 'now']);
  assert.equal(extra.code, 1);
  assert.match(extra.err, /unexpected argument "now"/);
});

test('the engine catalog: parsing as typed, and rankStacks on summaries', async () => {
  assert.deepEqual(parseQueryText('/ask most-expensive --top 3'), { name: 'most-expensive', positional: [], args: { top: '3' } });
  assert.deepEqual(parseQueryText('where-runs "redis-cache" --top=2'), { name: 'where-runs', positional: ['redis-cache'], args: { top: '2' } });
  const stacks = rankStacks(await engine.inventory.packageSummaries());
  assert.deepEqual(stacks.map((s) => `${s.project} / ${s.environmentName}`), expectedStacks().map((e) => e.stack));
  const catalog = new QueryCatalog(engine);
  await assert.rejects(catalog.ask({ name: 'where-runs', positional: ['a', 'b'] }, { actor: 'x', surface: 'cli' }), (err: unknown) => {
    assert.ok(err instanceof QueryError);
    assert.match(err.problem, /unexpected argument "b"/);
    assert.equal(err.usage.length, QUERY_NAMES.length);
    return true;
  });
  await assert.rejects(catalog.ask({ name: 'where-runs', positional: ['redis-cache'], args: { bundle: 'checkout-api' } }, { actor: 'x', surface: 'cli' }), /bundle is given twice/);
});
