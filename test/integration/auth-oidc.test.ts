import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { useRedis, uniqueName } from '../helpers/redis.ts';
import { apiClient } from '../helpers/api-tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/engine/errors.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { systemClock } from '../../src/engine/model.ts';
import { peopleOf } from '../../src/policy/index.ts';
import { HttpAuthenticator, oidcKeys } from '../../src/surfaces/http/auth.ts';
import { NotAuthenticatedError } from '../../src/workflow/authorize.ts';
import { startRuntime, type Runtime } from '../../src/runtime.ts';

// A real OpenID Connect issuer in miniature: its signing key published as a JWKS by a node:http
// server on loopback, tokens signed with jose. The service fetches the keys as it would from
// any issuer.
const ISSUER = 'https://id.example.test';
const AUDIENCE = 'ticket-surface';
const DIRECTORY = `people:
  - { id: quinn, displayName: Quinn Platform, roles: [admin], ids: { oidc: sub-quinn } }
  - { id: dana, displayName: Dana Developer, email: dana@example.com, ids: { oidc: sub-dana } }
  - { id: erin, displayName: Erin Auditor, email: erin@example.com, roles: [reader] }
`;

const redis = useRedis();
let dir: string;
let jwksServer: Server;
let runtime: Runtime;
let url: string;
let issuerKey: CryptoKey;
let strangerKey: CryptoKey;
let jwks: { keys: unknown[] };

before(async () => {
  await redis.ready();
  dir = mkdtempSync(join(tmpdir(), 'auth-oidc-'));
  writeFileSync(join(dir, 'directory.yaml'), DIRECTORY);
  const issuer = await generateKeyPair('RS256', { extractable: true });
  issuerKey = issuer.privateKey;
  strangerKey = (await generateKeyPair('RS256')).privateKey;
  jwks = { keys: [{ ...(await exportJWK(issuer.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] };
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks));
  jwksServer = createServer((req, res) => {
    if (req.url !== '/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  const config = loadConfig({
    REDIS_URL: redis.url,
    PORT: '0',
    REDIS_PREFIX: `${uniqueName('oidc')}:`,
    LOG_LEVEL: 'silent',
    DATA_DIR: join(dir, 'data'),
    DIRECTORY_FILE: join(dir, 'directory.yaml'),
    OIDC_ISSUER: ISSUER,
    OIDC_AUDIENCE: AUDIENCE,
    OIDC_JWKS_URL: jwksUrl,
  });
  runtime = await startRuntime({ config, logger: createLogger('silent'), http: true, workers: false });
  redis.cleanup(() => runtime.close());
  url = runtime.url!;
});
after(async () => {
  await new Promise<void>((resolve) => jwksServer?.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** A token as the issuer makes it (claims and header overridable to make it wrong). */
async function sign(claims: JWTPayload, opts: { key?: CryptoKey | Uint8Array; kid?: string; alg?: string; exp?: number | string | null } = {}): Promise<string> {
  let jwt = new SignJWT({ ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: opts.kid ?? 'k1' })
    .setIssuedAt()
    .setIssuer(typeof claims.iss === 'string' ? claims.iss : ISSUER)
    .setAudience(claims.aud ?? AUDIENCE);
  if (opts.exp !== null) jwt = jwt.setExpirationTime(opts.exp ?? '5m');
  return jwt.sign(opts.key ?? issuerKey);
}

test('a token of the issuer names a person by subject or verified email, who acts with their roles', async () => {
  const quinn = apiClient(url, await sign({ sub: 'sub-quinn' }));
  const created = await quinn.post('/v1/projects', { id: 'oidc-shop' });
  assert.equal(created.status, 201, JSON.stringify(created.data));
  const events = (await quinn.get('/v1/audit', { params: { subject: 'project:oidc-shop' } })).data.events;
  assert.deepEqual(events.map((e: { actor: string; surface: string }) => [e.actor, e.surface]), [['quinn', 'http']]);

  const dana = await apiClient(url, await sign({ sub: 'sub-dana' })).post('/v1/projects', { id: 'nope' });
  assert.equal(dana.status, 403);
  assert.match(dana.data.error.message, /creating a project needs the admin role; Dana Developer holds requester/);

  // Erin has no subject listed: her verified email finds her.
  const erin = apiClient(url, await sign({ sub: 'sub-unlisted', email: 'Erin@Example.com', email_verified: true }));
  assert.equal((await erin.get('/v1/bundles')).status, 200);
  assert.equal((await erin.post('/v1/requests', { project: 'oidc-shop', environment: 'dev', bundle: 'redis-cache', package: 'x' })).status, 403);
});

test('a wrong OpenID Connect token is 401 saying what was wrong', async () => {
  const hour = Math.floor(Date.now() / 1000) - 3600;
  const cases: [string, Promise<string>, RegExp][] = [
    ['expired', sign({ sub: 'sub-dana', iat: hour - 60 }, { exp: hour }), /token expired/],
    ['not yet valid', sign({ sub: 'sub-dana', nbf: Math.floor(Date.now() / 1000) + 3600 }), /not valid yet/],
    ['another audience', sign({ sub: 'sub-dana', aud: 'another-service' }), /meant for another audience/],
    ['another issuer', sign({ sub: 'sub-dana', iss: 'https://evil.example.test' }), /unknown issuer: tokens must be issued by https:\/\/id\.example\.test/],
    ['bad signature', sign({ sub: 'sub-dana' }, { key: strangerKey }), /bad signature: the token does not verify/],
    ['unpublished key', sign({ sub: 'sub-dana' }, { key: strangerKey, kid: 'k2' }), /bad signature: the token is signed with a key the issuer does not publish/],
    ['shared-secret signature', sign({ sub: 'sub-dana' }, { key: new TextEncoder().encode('a-shared-secret-of-32-bytes-long!'), alg: 'HS256' }), /bad signature: only RS256/],
    ['no expiry', sign({ sub: 'sub-dana' }, { exp: null }), /token claim exp is missing/],
    ['unknown person', sign({ sub: 'sub-mallory' }), /the directory lists no person with OpenID Connect subject sub-mallory/],
    ['unverified email', sign({ sub: 'sub-x', email: 'erin@example.com', email_verified: false }), /no person with OpenID Connect subject sub-x$/],
  ];
  for (const [what, token, message] of cases) {
    const r = await apiClient(url, await token).get('/v1/bundles');
    assert.equal(r.status, 401, what);
    assert.equal(r.data.error.code, 'unauthorized', what);
    assert.match(r.data.error.message, message, what);
    assert.match(String(r.headers['www-authenticate']), /^Bearer realm="ticket-surface", error="invalid_token"/, what);
  }
});

test('the keys can also be a local JWKS file', async () => {
  const auth = new HttpAuthenticator({
    tokens: { verify: async () => Promise.reject(new Error('no API tokens here')) },
    people: peopleOf([{ id: 'dana', ids: { oidc: ['sub-dana'] } }]),
    clock: systemClock,
    oidc: { issuer: ISSUER, audience: AUDIENCE, keys: await oidcKeys(pathToFileURL(join(dir, 'jwks.json')).href) },
  });
  const p = await auth.authenticate(`Bearer ${await sign({ sub: 'sub-dana' })}`);
  assert.equal(p.person.id, 'dana');
  assert.equal(p.via, 'OpenID Connect token');
  await assert.rejects(auth.authenticate(`Bearer ${await sign({ sub: 'sub-dana' }, { key: strangerKey })}`), (e: unknown) => e instanceof NotAuthenticatedError && e.problem === 'bad_signature');
});

test('the OpenID Connect settings come together, and only http(s) or file: key URLs are taken', () => {
  assert.throws(() => loadConfig({ OIDC_ISSUER: ISSUER }), (e: unknown) => e instanceof ConfigError && e.variable === 'OIDC_AUDIENCE');
  assert.throws(() => loadConfig({ OIDC_ISSUER: ISSUER, OIDC_AUDIENCE: AUDIENCE }), (e: unknown) => e instanceof ConfigError && e.variable === 'OIDC_JWKS_URL');
  assert.throws(() => loadConfig({ OIDC_AUDIENCE: AUDIENCE, OIDC_JWKS_URL: 'https://id.example.test/jwks' }), (e: unknown) => e instanceof ConfigError && e.variable === 'OIDC_ISSUER');
  assert.throws(() => loadConfig({ OIDC_ISSUER: ISSUER, OIDC_AUDIENCE: AUDIENCE, OIDC_JWKS_URL: 'ftp://id.example.test/jwks' }), (e: unknown) => e instanceof ConfigError && e.variable === 'OIDC_JWKS_URL');
  assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), (e: unknown) => e instanceof ConfigError && e.variable === 'METRICS_TOKEN');
  assert.equal(loadConfig({ OIDC_ISSUER: ISSUER, OIDC_AUDIENCE: AUDIENCE, OIDC_JWKS_URL: 'file:///run/secrets/oidc-jwks.json' }).OIDC_JWKS_URL, 'file:///run/secrets/oidc-jwks.json');
});
