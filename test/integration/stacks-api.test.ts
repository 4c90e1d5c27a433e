/**
 * Stacks over the API: `GET /v1/stacks` lists them, `POST /v1/stacks` refuses an unknown
 * template naming the ones there are, and `POST /v1/stacks/{id}/extend` extends a lease within
 * the policy's maximum and refuses beyond it naming the limit (audited `lease.extended`); a
 * reader may not extend. The CLI's `stack extend` and `stack list` do the same, and only the
 * stack's requester (the same person, on another surface) or an admin may extend it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, type CliIo } from '../../src/cli.ts';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { apiAs } from '../helpers/api-tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';
import type { Stack } from '../../src/workflow/stack-store.ts';

const redis = useRedis();
let dir: string;
let runtime: Runtime;
let env: NodeJS.ProcessEnv;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DAY = 86_400_000;

before(async () => {
  await redis.ready();
  dir = mkdtempSync(join(tmpdir(), 'stacks-api-'));
  env = { REDIS_URL: redis.url, REDIS_PREFIX: `${uniqueName('stacksapi')}:`, LOG_LEVEL: 'silent', DATA_DIR: join(dir, 'data'), PORT: '0' };
  runtime = await startRuntime({ config: loadConfig(env), logger: createLogger('silent'), http: true, workers: true });
  redis.cleanup(() => runtime.close());
  // A stack that is up with a lease of two days, at most seven (as the example policy says).
  const now = Date.now();
  const at = new Date(now).toISOString();
  const stack: Stack = {
    id: 'checkout-pr-1', template: 'preview-checkout', project: 'checkout', name: 'pr-1', labels: { preview: true },
    origin: { surface: 'http', ref: 'stack-pr-1' }, actor: { id: 'dana' }, answers: {}, packages: [], phase: 'up', costMonthly: 78.32, upAt: at, createdAt: at, updatedAt: at,
    lease: { generation: 1, grantedAt: at, expiresAt: new Date(now + 2 * DAY).toISOString(), maxUntil: new Date(now + 7 * DAY).toISOString(), maxText: '7d', remindBeforeMs: [DAY, 3_600_000] },
  };
  await runtime.opened.engine.stacks!.put(stack, undefined, 'lease.granted', { actor: 'lease', surface: 'engine' }, 'test stack');
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('stacks are listed, an unknown template is refused naming the templates, and a lease is extended within the maximum only', async () => {
  const dana = await apiAs(runtime, runtime.url!, 'dana', 'requester');
  const erin = await apiAs(runtime, runtime.url!, 'erin', 'reader');
  const listed = await erin.get('/v1/stacks');
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.data.stacks.map((s: Stack) => s.id), ['checkout-pr-1']);

  const unknown = await dana.post('/v1/stacks', { template: 'nope', name: 'pr-2' });
  assert.equal(unknown.status, 400);
  assert.match(unknown.data.error.message, /unknown stack "nope"; stacks: preview-checkout/);

  assert.equal((await erin.post('/v1/stacks/checkout-pr-1/extend', { duration: '1d' })).status, 403);
  const beyond = await dana.post('/v1/stacks/checkout-pr-1/extend', { duration: '6d' });
  assert.equal(beyond.status, 400);
  assert.match(beyond.data.error.message, /can last at most 7d \(policy lease\.max\)/);
  const extended = await dana.post('/v1/stacks/checkout-pr-1/extend', { duration: '1d' });
  assert.equal(extended.status, 200);
  assert.equal(extended.data.lease.generation, 2);
  assert.equal(Date.parse(extended.data.lease.expiresAt) - Date.parse(listed.data.stacks[0].lease.expiresAt), DAY);
  const jobs = (await runtime.leaseJobs!.waiting()).map((j) => j.id);
  assert.ok(jobs.includes('k.lease.checkout-pr-1.2.expire'), jobs.join(', '));
  const audit = await runtime.opened.engine.listAudit({ subject: { type: 'environment', id: 'checkout-pr-1' } });
  assert.ok(audit.some((e) => e.action === 'lease.extended' && e.actor === 'dana'));
});

/** Runs the CLI as the operating-system user `as`. */
async function cli(args: string[], as: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), env: { ...env, USER: as }, cwd: ROOT };
  const code = await main(args, io);
  return { code, out, err };
}

test('ticket-surface stack extend refuses beyond the maximum naming the limit, and another person than its requester; stack list shows the lease', async () => {
  const other = await cli(['stack', 'extend', 'checkout-pr-1', '2h'], 'pat');
  assert.notEqual(other.code, 0);
  assert.match(other.err, /extending the lease of stack checkout-pr-1 needs its requester \(Dana Developer\) or the admin role; Pat Product is none of these/);
  const beyond = await cli(['stack', 'extend', 'checkout-pr-1', '30d'], 'dana');
  assert.notEqual(beyond.code, 0);
  assert.match(beyond.err, /can last at most 7d \(policy lease\.max\)/);
  const ok = await cli(['stack', 'extend', 'checkout-pr-1', '2h'], 'dana');
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /checkout-pr-1  preview-checkout  up, lease until/);
  const listed = await cli(['stack', 'list', '--json'], 'dana');
  assert.equal(listed.code, 0, listed.err);
  assert.equal((JSON.parse(listed.out) as Stack[])[0]!.lease!.generation, 3);
});
