/**
 * Who is calling the v1 API. Every call carries `Authorization: Bearer <credential>`:
 *
 * - an API token (`tsk_...`, made by an admin, see workflow/tokens.ts), which names a person of
 *   the directory and the most it allows (its role);
 * - or, when OIDC_ISSUER is set, an OpenID Connect token: a JWT whose signature verifies
 *   against the issuer's published keys (JWKS) and whose `iss`, `aud`, `exp` and `nbf` hold; its
 *   `sub` (a person's `ids.oidc`) or verified `email` names the person.
 *
 * A missing, wrong, revoked or expired credential is a {@link NotAuthenticatedError} (401 with
 * `WWW-Authenticate: Bearer`, the message saying what was wrong). What the person may then do is
 * decided by the workflow's {@link Authorizer}: {@link allow} names a route's action. Nothing
 * else names the caller: an `X-Actor` header, or any other header, grants nothing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { RequestHandler, Response } from 'express';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ConfigError, SystemError } from '../../engine/errors.ts';
import type { Clock } from '../../engine/model.ts';
import type { People, Person } from '../../policy/index.ts';
import { NotAuthenticatedError, type Action, type Authorizer, type Principal } from '../../workflow/authorize.ts';
import { TOKEN_PREFIX, type TokenStore } from '../../workflow/tokens.ts';

/** Where OpenID Connect tokens come from and whom they are for. */
export interface OidcSettings {
  issuer: string;
  audience: string;
  /** The issuer's signing keys (see {@link oidcKeys}). */
  keys: JWTVerifyGetKey;
}

/** Signature algorithms accepted on OpenID Connect tokens (asymmetric only). */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** The issuer's signing keys: fetched (and cached) from an http(s) JWKS URL, or read once from a `file:` URL. */
export async function oidcKeys(jwksUrl: string): Promise<JWTVerifyGetKey> {
  const url = new URL(jwksUrl);
  if (url.protocol !== 'file:') return createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 30_000 });
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(await readFile(fileURLToPath(url), 'utf8')) as JSONWebKeySet;
  } catch {
    throw new ConfigError('OIDC_JWKS_URL', 'cannot read a JWKS document there');
  }
  return createLocalJWKSet(jwks);
}

/** Dependencies of {@link HttpAuthenticator}. */
export interface HttpAuthenticatorDeps {
  tokens: Pick<TokenStore, 'verify'>;
  people: People;
  clock: Clock;
  /** Absent: OpenID Connect tokens are refused. */
  oidc?: OidcSettings;
}

/** At most this much of a caller-supplied value is repeated in a message. */
function shown(v: unknown): string {
  return String(v).replace(/[^\w@.:+-]/g, '?').slice(0, 80);
}

/** Turns the Authorization header of a call into the {@link Principal} making it. */
export class HttpAuthenticator {
  constructor(private readonly deps: HttpAuthenticatorDeps) {}

  /** The caller named by `authorization` (the header's value); a NotAuthenticatedError saying what is wrong otherwise. */
  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (!authorization?.trim()) throw new NotAuthenticatedError('missing', 'missing credential: send Authorization: Bearer <API token or OpenID Connect token>');
    const m = /^Bearer +(\S+)\s*$/i.exec(authorization);
    if (!m) throw new NotAuthenticatedError('malformed', 'the Authorization header must read: Bearer <API token or OpenID Connect token>');
    const credential = m[1]!;
    if (credential.startsWith(TOKEN_PREFIX)) return this.apiToken(credential);
    if (/^[\w-]+\.[\w-]+\.[\w-]+$/.test(credential)) return this.openIdToken(credential);
    throw new NotAuthenticatedError('unknown_token', 'unknown token: neither an API token (tsk_...) nor a JWT');
  }

  private async apiToken(token: string): Promise<Principal> {
    const record = await this.deps.tokens.verify(token);
    const person = this.deps.people.get(record.person);
    if (!person) throw new NotAuthenticatedError('unknown_person', `API token ${record.id} belongs to "${record.person}", whom the directory does not list`);
    return { person, surface: 'http', account: person.id, scope: record.role, via: `API token ${record.id}` };
  }

  private async openIdToken(token: string): Promise<Principal> {
    const oidc = this.deps.oidc;
    if (!oidc) throw new NotAuthenticatedError('not_configured', 'OpenID Connect tokens are not accepted here (no issuer is configured); use an API token');
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      throw new NotAuthenticatedError('malformed', 'the bearer token is not a readable JWT');
    }
    // Checked before the signature, so a token of another issuer is named as such (not as a bad key).
    if (claims.iss !== oidc.issuer) throw new NotAuthenticatedError('unknown_issuer', `unknown issuer: tokens must be issued by ${oidc.issuer}`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, oidc.keys, {
        issuer: oidc.issuer,
        audience: oidc.audience,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
        currentDate: this.deps.clock.now(),
      }));
    } catch (err) {
      throw jwtProblem(err);
    }
    const person = this.personOf(payload);
    return { person, surface: 'http', account: person.id, via: 'OpenID Connect token' };
  }

  /** The person a verified token names: by subject (`ids.oidc`), else by a verified email. */
  private personOf(payload: JWTPayload): Person {
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
    const email = typeof payload.email === 'string' && payload.email_verified !== false ? payload.email : undefined;
    const person = (sub ? this.deps.people.bySurfaceId('oidc', sub) : undefined) ?? (email ? this.deps.people.byEmail(email) : undefined);
    if (person) return person;
    const named = [sub ? `subject ${shown(sub)}` : '', email ? `email ${shown(email)}` : ''].filter(Boolean).join(' or ');
    throw new NotAuthenticatedError('unknown_person', `the directory lists no person with OpenID Connect ${named || 'subject or email'}`);
  }
}

/** What was wrong with a JWT, from jose's error codes; a failure to fetch the keys is ours (500). */
function jwtProblem(err: unknown): Error {
  const e = err as { code?: string; claim?: string; reason?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return new NotAuthenticatedError('expired', 'token expired');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new NotAuthenticatedError('bad_signature', "bad signature: the token does not verify against the issuer's keys");
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new NotAuthenticatedError('bad_signature', 'bad signature: the token is signed with a key the issuer does not publish');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new NotAuthenticatedError('bad_signature', `bad signature: only ${ALGORITHMS.join(', ')} signatures are accepted`);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'nbf') return new NotAuthenticatedError('not_yet_valid', 'token is not valid yet (nbf)');
      if (e.claim === 'aud') return new NotAuthenticatedError('wrong_audience', 'token is meant for another audience (aud)');
      if (e.claim === 'iss') return new NotAuthenticatedError('unknown_issuer', 'unknown issuer');
      return new NotAuthenticatedError('malformed', `token claim ${shown(e.claim)} is ${e.reason === 'missing' ? 'missing' : 'invalid'}`);
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return new NotAuthenticatedError('malformed', 'the bearer token is not a valid JWT');
    default:
      return new SystemError('the OpenID Connect keys could not be read', { cause: err });
  }
}

/** The principal {@link authenticate} found for this call. */
export function principalOf(res: Response): Principal {
  const p = res.locals.principal as Principal | undefined;
  if (!p) throw new SystemError('no principal: the route is mounted without authentication');
  return p;
}

/**
 * Authenticates every call of the router it is used on and checks the least right, `read`, so
 * that a route without its own {@link allow} is still not open to people without a role.
 */
export function authenticate(auth: HttpAuthenticator, authz: Authorizer): RequestHandler {
  return async (req, res, next) => {
    try {
      const principal = await auth.authenticate(req.get('authorization'));
      res.locals.principal = principal;
      await authz.require(principal, 'read');
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** A route's right: the caller must be allowed `action` (a 403 naming the role needed otherwise, audited). */
export function allow(authz: Authorizer, action: Action): RequestHandler<Record<string, string>> {
  return async (_req, res, next) => {
    try {
      await authz.require(principalOf(res), action);
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** The `WWW-Authenticate` answer of a refused credential (RFC 6750). */
export function wwwAuthenticate(err: NotAuthenticatedError): string {
  const realm = 'Bearer realm="ticket-surface"';
  if (err.problem === 'missing') return realm;
  return `${realm}, error="invalid_token", error_description="${err.message.replace(/["\\]/g, "'")}"`;
}

/** `/metrics` needs `Authorization: Bearer <token>` when a token is configured; open otherwise. */
export function metricsAccess(token: string | undefined): RequestHandler {
  const want = token ? createHash('sha256').update(`Bearer ${token}`).digest() : undefined;
  return (req, _res, next) => {
    if (!want) return next();
    const got = createHash('sha256').update(req.get('authorization') ?? '').digest();
    if (timingSafeEqual(got, want)) return next();
    next(new NotAuthenticatedError(req.get('authorization') ? 'unknown_token' : 'missing', req.get('authorization') ? 'wrong metrics token' : 'missing credential: /metrics needs Authorization: Bearer <METRICS_TOKEN>'));
  };
}
