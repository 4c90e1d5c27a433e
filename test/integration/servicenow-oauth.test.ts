/**
 * OAuth 2.0 against the contract-checked ServiceNow sandbox: the client credentials grant and
 * the password grant (with its refresh token) at `POST /oauth_token.do`, tokens sent as Bearer
 * and reused until shortly before they expire, a token the instance refuses (401) renewed once,
 * a refused refresh token replaced by a new grant, and secrets in no log line or error. The
 * service's settings choose the login.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/engine/errors.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { serviceNowCredentials, type ServiceNowCredentials } from '../../src/surfaces/servicenow/auth.ts';
import { ServiceNowAuthError, ServiceNowClient } from '../../src/surfaces/servicenow/client.ts';
import { serviceNowTools } from '../../src/surfaces/servicenow/tools.ts';
import { startServiceNowSandbox, type ServiceNowSandbox } from '../../sandbox/servicenow/servicenow-sandbox.ts';
import { exampleSeed } from '../../sandbox/servicenow/example-seed.ts';

let sb: ServiceNowSandbox;
/** Every log line the clients of this file wrote. */
const logLines: string[] = [];
const logger = createLogger(
  'debug',
  new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  }),
);

before(async () => {
  sb = await startServiceNowSandbox({ contract: true, seed: exampleSeed(), oauth: { accessTokenLifetimeS: 600 } });
});
after(async () => {
  await sb?.stop();
});

function clientCredentials(): ServiceNowCredentials {
  return { kind: 'oauth', grant: 'client_credentials', clientId: sb.credentials.clientId, clientSecret: sb.credentials.clientSecret };
}

function passwordGrant(): ServiceNowCredentials {
  return { kind: 'oauth', grant: 'password', clientId: sb.credentials.clientId, clientSecret: sb.credentials.clientSecret, user: sb.credentials.username, password: sb.credentials.password };
}

function client(credentials: ServiceNowCredentials, now?: () => number): ServiceNowClient {
  return new ServiceNowClient({ instanceUrl: sb.url, credentials, logger, ...(now ? { now } : {}) });
}

/** The sandbox's calls and grants from here on. */
function watch(): { calls: () => typeof sb.calls; grants: () => typeof sb.oauth.grants } {
  const calls = sb.calls.length;
  const grants = sb.oauth.grants.length;
  return { calls: () => sb.calls.slice(calls), grants: () => sb.oauth.grants.slice(grants) };
}

const readUser = (c: ServiceNowClient) => c.list('sys_user', { query: `user_name=${sb.credentials.username}`, fields: ['sys_id', 'user_name'], max: 1 });

test('client credentials: one token, sent as Bearer and reused; the calls act as the integration user', async () => {
  const w = watch();
  const c = client(clientCredentials());
  assert.equal((await readUser(c))[0]?.user_name, sb.credentials.username);
  await readUser(c);
  assert.deepEqual(w.grants().map((g) => [g.grant, g.status]), [['client_credentials', 200]], 'one token for both calls');
  assert.deepEqual(w.calls().map((x) => [x.auth, x.user, x.status]), [['bearer', sb.credentials.username, 200], ['bearer', sb.credentials.username, 200]]);
});

test('client credentials: a token the instance expired is refused once (401), then renewed and the call succeeds', async () => {
  const c = client(clientCredentials());
  await readUser(c);
  const w = watch();
  sb.oauth.expireAccessTokens();
  assert.equal((await readUser(c)).length, 1);
  assert.deepEqual(w.calls().map((x) => x.status), [401, 200]);
  assert.deepEqual(w.grants().map((g) => g.grant), ['client_credentials']);
});

test('password grant: the refresh token renews an expired access token; a refused refresh token falls back to the grant', async () => {
  const w = watch();
  const c = client(passwordGrant());
  await readUser(c);
  assert.deepEqual(w.grants().map((g) => g.grant), ['password']);
  sb.oauth.expireAccessTokens();
  await readUser(c);
  assert.deepEqual(w.grants().map((g) => g.grant), ['password', 'refresh_token'], 'renewed by the refresh token, not the password');
  sb.oauth.expireAccessTokens();
  sb.oauth.expireRefreshTokens();
  assert.equal((await readUser(c)).length, 1);
  assert.deepEqual(w.grants().map((g) => [g.grant, g.status]), [['password', 200], ['refresh_token', 200], ['refresh_token', 401], ['password', 200]]);
  assert.ok(w.calls().every((x) => x.status === 200 || x.status === 401));
  assert.ok(w.calls().filter((x) => x.status === 200).every((x) => x.auth === 'bearer'));
});

test('a token is renewed shortly before it expires, without a refused call', async () => {
  let now = Date.now();
  const c = client(passwordGrant(), () => now);
  await readUser(c);
  const w = watch();
  now += 500_000; // the token lives 600 s: 100 s left, still used
  await readUser(c);
  assert.deepEqual(w.grants(), []);
  now += 50_000; // 50 s left: within the renewal margin
  await readUser(c);
  assert.deepEqual(w.grants().map((g) => g.grant), ['refresh_token']);
  assert.deepEqual(w.calls().map((x) => x.status), [200, 200], 'no call was refused');
});

test('a wrong client secret: an auth error naming the OAuth settings; no secret or token in errors or logs', async () => {
  const wrong = 'wrong-client-secret-4f1d';
  const c = client({ kind: 'oauth', grant: 'client_credentials', clientId: sb.credentials.clientId, clientSecret: wrong });
  await assert.rejects(readUser(c), (e: unknown) => e instanceof ServiceNowAuthError && /SERVICENOW_OAUTH_CLIENT_ID and SERVICENOW_OAUTH_CLIENT_SECRET/.test(e.message) && !e.message.includes(wrong));
  const log = logLines.join('');
  assert.ok(log.includes('servicenow access token obtained'), 'token grants are logged');
  for (const secret of [wrong, sb.credentials.clientSecret, sb.credentials.password]) assert.ok(!log.includes(secret), 'a secret reached the log');
  assert.ok(!/Bearer [A-Za-z0-9_-]{20,}/.test(log), 'a token reached the log');
});

test('the settings choose the login: Basic, the client credentials grant, or the password grant', () => {
  const base = { SERVICENOW_INSTANCE_URL: sb.url, SERVICENOW_USER: 'ticket.surface', SERVICENOW_WEBHOOK_SECRET: 'x'.repeat(16) };
  const oauth = { SERVICENOW_OAUTH_CLIENT_ID: 'id', SERVICENOW_OAUTH_CLIENT_SECRET: 'secret' };
  assert.equal(serviceNowCredentials(loadConfig({ ...base, SERVICENOW_PASSWORD: 'pw' })).kind, 'basic');
  assert.deepEqual(serviceNowCredentials(loadConfig({ ...base, ...oauth })), { kind: 'oauth', grant: 'client_credentials', clientId: 'id', clientSecret: 'secret' });
  const password = serviceNowCredentials(loadConfig({ ...base, ...oauth, SERVICENOW_PASSWORD: 'pw' }));
  assert.equal(password.kind === 'oauth' && password.grant, 'password');
  assert.throws(() => loadConfig(base), (e: unknown) => e instanceof ConfigError && e.variable === 'SERVICENOW_PASSWORD', 'Basic needs a password');
  assert.throws(() => loadConfig({ ...base, SERVICENOW_OAUTH_CLIENT_ID: 'id' }), (e: unknown) => e instanceof ConfigError && e.variable === 'SERVICENOW_OAUTH_CLIENT_SECRET' && !e.message.includes('id '));
  assert.deepEqual(serviceNowTools.missingConfig(loadConfig({ ...base, ...oauth })), [], 'forms sync logs in with client credentials, no password');
  assert.deepEqual(serviceNowTools.missingConfig(loadConfig({})), ['SERVICENOW_INSTANCE_URL', 'SERVICENOW_USER', 'SERVICENOW_PASSWORD']);
});

test('contract: the token exchanges and Bearer calls above fit the OAuth examples and the exports', () => {
  assert.ok(sb.contract!.exchanges.some((x) => x.path === '/oauth_token.do'));
  assert.deepEqual(sb.violations(), [], sb.contract?.report());
});
