/**
 * How the service logs in to a ServiceNow instance: Basic authentication (user and password), or
 * OAuth 2.0 through the instance's token endpoint (`POST /oauth_token.do`, form-encoded) with the
 * client credentials grant or the password grant. An access token is reused until shortly before
 * it expires; the password grant's refresh token renews it (a refused refresh falls back to the
 * grant itself). When the instance refuses a token before then (401), the client drops it and
 * tries the call once more with a new one. Secrets and tokens never reach logs or errors.
 */
import axios, { type AxiosInstance } from 'axios';
import { z } from 'zod';
import type { Config } from '../../config.ts';
import { SystemError } from '../../engine/errors.ts';
import type { Logger } from '../../engine/logger.ts';
import { RemoteCaller, directHttp, parseAnswer, type RateLimitOptions } from '../shared/remote-call.ts';
import { sanitize } from '../shared/sanitize.ts';
import { BASIC_AUTH_SETTINGS, ServiceNowApiError, ServiceNowAuthError, ServiceNowResponseError, serviceNowErrors } from './errors.ts';
import { serviceNowFailure } from './rate-limit.ts';

/** The settings OAuth reads, as a refused token request names them. */
export const OAUTH_SETTINGS = 'SERVICENOW_OAUTH_CLIENT_ID and SERVICENOW_OAUTH_CLIENT_SECRET';

/** How to log in: Basic, or one of the two OAuth grants. */
export type ServiceNowCredentials =
  | { kind: 'basic'; user: string; password: string }
  | { kind: 'oauth'; grant: 'client_credentials'; clientId: string; clientSecret: string }
  | { kind: 'oauth'; grant: 'password'; clientId: string; clientSecret: string; user: string; password: string };

/**
 * The credentials the settings describe: OAuth when SERVICENOW_OAUTH_CLIENT_ID is set (the
 * password grant when SERVICENOW_PASSWORD is set too, else the client credentials grant),
 * Basic otherwise.
 */
export function serviceNowCredentials(config: Config): ServiceNowCredentials {
  const user = config.SERVICENOW_USER ?? '';
  const password = config.SERVICENOW_PASSWORD ?? '';
  const clientId = config.SERVICENOW_OAUTH_CLIENT_ID;
  if (!clientId) return { kind: 'basic', user, password };
  const clientSecret = config.SERVICENOW_OAUTH_CLIENT_SECRET ?? '';
  return password ? { kind: 'oauth', grant: 'password', clientId, clientSecret, user, password } : { kind: 'oauth', grant: 'client_credentials', clientId, clientSecret };
}

/** Gives every call its `Authorization` header. */
export interface ServiceNowAuth {
  /** The settings a refused login names. */
  readonly settings: string;
  /** The `Authorization` header for the next call. */
  authorization(): Promise<string>;
  /** The instance refused `authorization` (401): forget it. True when a new one is worth a retry. */
  refused(authorization: string): boolean;
}

/** Basic authentication: the same header every time; a refusal is final. */
export class BasicAuth implements ServiceNowAuth {
  readonly settings = BASIC_AUTH_SETTINGS;
  private readonly header: string;

  constructor(user: string, password: string) {
    this.header = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }

  /** {@inheritDoc ServiceNowAuth.authorization} */
  async authorization(): Promise<string> {
    return this.header;
  }

  /** {@inheritDoc ServiceNowAuth.refused} */
  refused(): boolean {
    return false;
  }
}

/** The token endpoint's answer (RFC 6749 §5.1, as the platform sends it). */
const tokenAnswerSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i, 'must be Bearer'),
  expires_in: z.coerce.number().positive(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});

/** An access token and when to stop using it. */
interface Token {
  header: string;
  /** Epoch ms after which the token is renewed before use. */
  renewAt: number;
  refreshToken?: string;
}

/** The longest margin before expiry at which a token is renewed (a tenth of its life when shorter). */
const RENEW_MARGIN_MS = 60_000;

/** Settings of {@link OAuthTokens}. */
export interface OAuthTokensOptions extends RateLimitOptions {
  instanceUrl: string;
  credentials: Extract<ServiceNowCredentials, { kind: 'oauth' }>;
  logger: Logger;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
  /** Epoch ms now; injected by tests that move time. */
  now?: () => number;
}

const TOKEN_PATH = '/oauth_token.do';
const TOKEN_OP = `POST ${TOKEN_PATH}`;

/** OAuth 2.0 access tokens from the instance's token endpoint, cached and renewed. */
export class OAuthTokens implements ServiceNowAuth {
  readonly settings = OAUTH_SETTINGS;
  private readonly http: AxiosInstance;
  private readonly remote: RemoteCaller;
  private readonly now: () => number;
  private token?: Token;
  private pending?: Promise<Token>;

  constructor(private readonly options: OAuthTokensOptions) {
    this.http = axios.create({ baseURL: options.instanceUrl.replace(/\/+$/, ''), timeout: options.timeoutMs ?? 15_000, headers: { Accept: 'application/json' }, ...directHttp() });
    this.now = options.now ?? Date.now;
    const settings = options.credentials.grant === 'password' ? `${OAUTH_SETTINGS}, SERVICENOW_USER and SERVICENOW_PASSWORD` : OAUTH_SETTINGS;
    this.remote = new RemoteCaller({ ...options, system: 'servicenow', errors: serviceNowErrors(settings), describe: (err) => serviceNowFailure(err, tokenMessages) });
  }

  /** {@inheritDoc ServiceNowAuth.authorization} */
  async authorization(): Promise<string> {
    if (this.token && this.now() < this.token.renewAt) return this.token.header;
    this.pending ??= this.renew().finally(() => (this.pending = undefined));
    return (await this.pending).header;
  }

  /** {@inheritDoc ServiceNowAuth.refused} */
  refused(authorization: string): boolean {
    if (this.token?.header === authorization) this.token = { ...this.token, renewAt: 0 };
    return true;
  }

  /** A new access token: by the refresh token when there is one (falling back to the grant), else by the grant. */
  private async renew(): Promise<Token> {
    const refreshToken = this.token?.refreshToken;
    if (refreshToken) {
      try {
        return (this.token = await this.request('refresh_token', { refresh_token: refreshToken }));
      } catch (err) {
        if (!(err instanceof ServiceNowAuthError || err instanceof ServiceNowApiError)) throw err;
        this.options.logger.info({ op: TOKEN_OP }, 'servicenow refresh token refused; asking for a new grant');
      }
    }
    const c = this.options.credentials;
    const grant: Record<string, string> = c.grant === 'password' ? { username: c.user, password: c.password } : {};
    return (this.token = await this.request(c.grant, grant));
  }

  /** One form-encoded token request of `grant` with its own `fields`. */
  private async request(grant: string, fields: Record<string, string>): Promise<Token> {
    const { clientId, clientSecret } = this.options.credentials;
    const body = new URLSearchParams({ grant_type: grant, client_id: clientId, client_secret: clientSecret, ...fields }).toString();
    const res = await this.remote.call(TOKEN_OP, () => this.http.post(TOKEN_PATH, body, { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }));
    const answer = parseAnswer(tokenAnswerSchema, res.data, (detail) => new ServiceNowResponseError(TOKEN_OP, detail));
    const lifeMs = answer.expires_in * 1000;
    const now = this.now();
    this.options.logger.info({ op: TOKEN_OP, grant, expiresInS: answer.expires_in, refreshable: Boolean(answer.refresh_token) }, 'servicenow access token obtained');
    const refreshToken = answer.refresh_token ?? (grant === 'refresh_token' ? fields.refresh_token : undefined);
    return { header: `Bearer ${answer.access_token}`, renewAt: now + lifeMs - Math.min(RENEW_MARGIN_MS, lifeMs / 10), ...(refreshToken ? { refreshToken } : {}) };
  }
}

/** The token endpoint's `{"error", "error_description"}` (or the platform's error envelope) as plain messages. */
function tokenMessages(data: unknown): string[] {
  if (!data || typeof data !== 'object') return [];
  const o = data as { error?: unknown; error_description?: unknown };
  if (o.error && typeof o.error === 'object') {
    const e = o.error as { message?: unknown; detail?: unknown };
    return [e.message, e.detail].filter((m): m is string => typeof m === 'string' && m.trim() !== '').map((m) => sanitize(m).slice(0, 500));
  }
  return [o.error, o.error_description].filter((m): m is string => typeof m === 'string' && m.trim() !== '').map((m) => sanitize(m).slice(0, 200));
}

/** Settings of {@link serviceNowAuth}. */
export interface ServiceNowAuthOptions extends RateLimitOptions {
  instanceUrl: string;
  credentials: ServiceNowCredentials;
  logger: Logger;
  timeoutMs?: number;
  now?: () => number;
}

/** The login `credentials` describe. */
export function serviceNowAuth(options: ServiceNowAuthOptions): ServiceNowAuth {
  const c = options.credentials;
  if (c.kind === 'basic') {
    if (!c.user || !c.password) throw new SystemError(`ServiceNow Basic authentication needs ${BASIC_AUTH_SETTINGS}`);
    return new BasicAuth(c.user, c.password);
  }
  if (!c.clientId || !c.clientSecret) throw new SystemError(`ServiceNow OAuth needs ${OAUTH_SETTINGS}`);
  return new OAuthTokens({ ...options, credentials: c });
}
