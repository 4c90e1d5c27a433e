/**
 * ServiceNow's rate limit through the contract-checked sandbox: a 429 that carries only the
 * `X-RateLimit-*` headers (no `Retry-After`) is waited out until `X-RateLimit-Reset` when that is
 * short, and surfaced as a rate-limited error carrying the wait when it is long.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/engine/logger.ts';
import { ServiceNowClient, ServiceNowRateLimitedError } from '../../src/surfaces/servicenow/client.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed } from '../../sandbox/servicenow/example-seed.ts';

/** The instant the sandbox's and the clients' clocks stand at (half a second into a second). */
const NOW = Date.parse('2026-11-24T09:00:00.500Z');
let sb: ServiceNowSandbox;
before(async () => {
  sb = await startServiceNowSandbox({ contract: true, seed: exampleSeed(), clock: { now: () => new Date(NOW) } });
});
after(async () => {
  await sb?.stop();
});

/** A client whose waits are recorded instead of slept, on the sandbox's stopped clock. */
function client(waits: number[]): ServiceNowClient {
  return new ServiceNowClient({ instanceUrl: sb.url, user: sb.credentials.username, password: sb.credentials.password, logger: createLogger('silent'), sleep: async (ms) => void waits.push(ms), now: () => NOW });
}

test('the sandbox answers 429 with X-RateLimit-Limit, -Remaining and -Reset and no Retry-After when asked', async () => {
  sb.rateLimit(1, 20, { path: '/api/now/table/sys_user', withoutRetryAfter: true });
  const res = await fetch(`${sb.url}/api/now/table/sys_user?sysparm_limit=1`, { headers: { Authorization: sb.authorization, Accept: 'application/json' } });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), null);
  assert.equal(res.headers.get('x-ratelimit-limit'), '100');
  assert.equal(res.headers.get('x-ratelimit-remaining'), '0');
  // Epoch seconds: 20 s after the sandbox's instant, rounded up to the whole second.
  assert.equal(Number(res.headers.get('x-ratelimit-reset')), Math.ceil(NOW / 1000) + 20);
  assert.deepEqual(((await res.json()) as { error: { message: string } }).error.message, 'Rate limit exceeded');
});

test('a short reset is waited out in-process, then the call succeeds', async () => {
  const waits: number[] = [];
  sb.rateLimit(1, 2, { path: '/api/now/table/sys_user', withoutRetryAfter: true });
  const rows = await client(waits).list('sys_user', { query: `user_name=${sb.credentials.username}`, fields: ['sys_id'], max: 1 });
  assert.equal(rows.length, 1);
  // Until the reset (the sandbox's second rounded up, plus 2 s) on the client's clock, not the
  // 500 ms backoff used without any header.
  assert.deepEqual(waits, [(Math.ceil(NOW / 1000) + 2) * 1000 - NOW]);
});

test('a long reset is a rate-limited error carrying the wait, not a retry after half a second', async () => {
  const waits: number[] = [];
  sb.rateLimit(1, 60, { path: '/api/now/table/sys_user', withoutRetryAfter: true });
  await assert.rejects(
    client(waits).list('sys_user', { fields: ['sys_id'], max: 1 }),
    (e: unknown) => e instanceof ServiceNowRateLimitedError && e.retryAfterMs === (Math.ceil(NOW / 1000) + 60) * 1000 - NOW,
  );
  assert.deepEqual(waits, [], 'nothing waited in-process');
});

test('contract: zero violations', () => {
  assert.deepEqual(sb.violations(), [], sb.contract?.report());
});
