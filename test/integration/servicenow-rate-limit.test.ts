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

let sb: ServiceNowSandbox;
before(async () => {
  sb = await startServiceNowSandbox({ contract: true, seed: exampleSeed() });
});
after(async () => {
  await sb?.stop();
});

/** A client whose waits are recorded instead of slept, on a clock stopped at `now` when given. */
function client(waits: number[], now?: number): ServiceNowClient {
  return new ServiceNowClient({ instanceUrl: sb.url, user: sb.credentials.username, password: sb.credentials.password, logger: createLogger('silent'), sleep: async (ms) => void waits.push(ms), ...(now !== undefined ? { now: () => now } : {}) });
}

test('the sandbox answers 429 with X-RateLimit-Limit, -Remaining and -Reset and no Retry-After when asked', async () => {
  sb.rateLimit(1, 20, { path: '/api/now/table/sys_user', withoutRetryAfter: true });
  const sent = Math.floor(Date.now() / 1000);
  const res = await fetch(`${sb.url}/api/now/table/sys_user?sysparm_limit=1`, { headers: { Authorization: sb.authorization, Accept: 'application/json' } });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), null);
  assert.equal(res.headers.get('x-ratelimit-limit'), '100');
  assert.equal(res.headers.get('x-ratelimit-remaining'), '0');
  const answered = Math.ceil(Date.now() / 1000);
  const reset = Number(res.headers.get('x-ratelimit-reset'));
  // 20 s after the moment the sandbox answered, which lies between sending and reading the answer.
  assert.ok(reset >= sent + 20 && reset <= answered + 20, `reset ${reset} is 20 s after the answer (sent ${sent}, answered ${answered})`);
  assert.deepEqual(((await res.json()) as { error: { message: string } }).error.message, 'Rate limit exceeded');
});

test('a short reset is waited out in-process, then the call succeeds', async () => {
  const waits: number[] = [];
  sb.rateLimit(1, 2, { path: '/api/now/table/sys_user', withoutRetryAfter: true });
  // The client's clock stands still at the sending instant: its wait is the reset minus that instant.
  const sent = Date.now();
  const rows = await client(waits, sent).list('sys_user', { query: `user_name=${sb.credentials.username}`, fields: ['sys_id'], max: 1 });
  const answered = Date.now();
  assert.equal(rows.length, 1);
  assert.equal(waits.length, 1);
  // Until the reset (epoch seconds, 2 s after the sandbox answered, between sending and reading the
  // answer), not the 500 ms backoff used without any header.
  const earliest = (Math.floor(sent / 1000) + 2) * 1000 - sent;
  const latest = (Math.ceil(answered / 1000) + 2) * 1000 - sent;
  assert.ok(waits[0]! >= earliest && waits[0]! <= latest, `waited ${waits[0]} ms: until the reset, ${earliest} to ${latest} ms after sending`);
});

test('a long reset is a rate-limited error carrying the wait, not a retry after half a second', async () => {
  const waits: number[] = [];
  sb.rateLimit(1, 60, { path: '/api/now/table/sys_user', withoutRetryAfter: true });
  await assert.rejects(
    client(waits).list('sys_user', { fields: ['sys_id'], max: 1 }),
    (e: unknown) => e instanceof ServiceNowRateLimitedError && e.retryAfterMs > 55_000 && e.retryAfterMs <= 61_000,
  );
  assert.deepEqual(waits, [], 'nothing waited in-process');
});

test('contract: zero violations', () => {
  assert.deepEqual(sb.violations(), [], sb.contract?.report());
});
